package tcp

import "fmt"

// scriptParseForward parses "option forward=accept|refuse|drop|wait":
// forwarding mode, each request decided as soon as the host makes it.
func scriptParseForward(o *scriptOptions, v string) error {
	switch v {
	case "accept", "refuse", "drop", "wait":
	default:
		return fmt.Errorf("forward=%s: want accept, refuse, drop or wait", v)
	}
	o.forward = v
	o.cfg.Forward = func(*ForwardRequest) {} // the runner decides, on the host
	return nil
}

// decideForwards gives each new forwarding request the script's decision,
// as a Config.Forward that answers at once would.
func (r *scriptRunner) decideForwards() {
	if r.opt.forward == "" {
		return
	}
	for _, p := range r.h.takeFresh() {
		switch r.opt.forward {
		case "accept":
			if _, err := r.h.forwardAccept(r.now, p); err != nil {
				r.failf("forward accept %v: %v", p.id, err)
			}
		case "refuse":
			r.h.forwardRefuse(p)
		case "drop":
			r.h.forwardDrop(p)
		}
	}
}
