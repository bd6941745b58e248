package tcp

// rcvNext returns RCV.NXT.
func (c *tcb) rcvNext() Seq { return c.rcvNxt }

// sndNext returns SND.NXT.
func (c *tcb) sndNext() Seq { return c.sndNxt }
