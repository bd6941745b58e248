package tcp

// rcvNext returns RCV.NXT.
func (c *tcb) rcvNext() Seq { return c.rcv.nxt }

// sndNext returns SND.NXT.
func (c *tcb) sndNext() Seq { return c.snd.nxt }
