package tun

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/utcp/utcp/ip"
)

// PcapSnaplen is the snapshot length of the pcap files Sniff writes: the
// largest IPv4 packet (RFC 791 Total Length is 16 bits), so nothing is cut.
const PcapSnaplen = 65535

// Sniffer is a Link that passes every call through to another Link and
// records each packet read and written, as pcap with LINKTYPE_RAW (101: each
// record is a bare IP packet), so a test's traffic can be opened in
// Wireshark. It is safe for concurrent ReadPacket and WritePacket. Around
// an OffloadLink it passes the offload methods through (OffloadSize is 0
// around a plain Link).
type Sniffer struct {
	l   Link
	out io.Writer

	mu  sync.Mutex // serialises records on w
	w   *pcapgo.Writer
	err error // first error writing the capture
}

// Sniff writes the pcap file header to w and returns a Sniffer around l.
// Errors writing packet records do not fail the link; Flush reports them.
func Sniff(l Link, w io.Writer) (*Sniffer, error) {
	pw := pcapgo.NewWriter(w)
	// layers.LinkTypeRaw is 101, LINKTYPE_RAW in the tcpdump.org registry.
	if err := pw.WriteFileHeader(PcapSnaplen, layers.LinkTypeRaw); err != nil {
		return nil, fmt.Errorf("tun: pcap header: %w", err)
	}
	return &Sniffer{l: l, out: w, w: pw}, nil
}

// ReadPacket reads from the wrapped link and records the packet.
func (s *Sniffer) ReadPacket(b []byte) (int, error) {
	n, err := s.l.ReadPacket(b)
	if err == nil {
		s.record(b[:n])
	}
	return n, err
}

// WritePacket records b and writes it to the wrapped link. Only packets the
// link accepted are recorded.
func (s *Sniffer) WritePacket(b []byte) error {
	// Hold the lock across the write, so the peer's reply, read on another
	// goroutine, cannot be recorded before the packet that caused it.
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.l.WritePacket(b); err != nil {
		return err
	}
	s.recordLocked(b)
	return nil
}

// MTU returns the wrapped link's MTU.
func (s *Sniffer) MTU() int { return s.l.MTU() }

// OffloadSize returns the wrapped link's OffloadSize if it is an
// OffloadLink, else 0.
func (s *Sniffer) OffloadSize() int {
	if ol, ok := s.l.(OffloadLink); ok {
		return ol.OffloadSize()
	}
	return 0
}

// ReadOffload reads from the wrapped link's ReadOffload, or its ReadPacket
// with zero metadata, and records the packet as it is: a GSO packet as one
// large record, a partial checksum unfinished.
func (s *Sniffer) ReadOffload(b []byte, o *ip.Offload) (int, error) {
	ol, ok := s.l.(OffloadLink)
	if !ok {
		*o = ip.Offload{}
		return s.ReadPacket(b)
	}
	n, err := ol.ReadOffload(b, o)
	if err == nil {
		s.record(b[:n])
	}
	return n, err
}

// WriteOffload records b as it is and writes it with o to the wrapped
// link's WriteOffload, or its WritePacket if o is zero.
func (s *Sniffer) WriteOffload(b []byte, o ip.Offload) error {
	ol, ok := s.l.(OffloadLink)
	if !ok {
		if o != (ip.Offload{}) {
			return fmt.Errorf("tun: sniffer: offload metadata on a link without offload")
		}
		return s.WritePacket(b)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ol.WriteOffload(b, o); err != nil {
		return err
	}
	s.recordLocked(b)
	return nil
}

// record appends one packet record with the current time.
func (s *Sniffer) record(pkt []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recordLocked(pkt)
}

// recordLocked writes one pcap record; s.mu is held, so records are in
// order and their timestamps never go backwards.
func (s *Sniffer) recordLocked(pkt []byte) {
	ci := gopacket.CaptureInfo{Timestamp: time.Now(), CaptureLength: len(pkt), Length: len(pkt)}
	if len(pkt) > PcapSnaplen {
		ci.CaptureLength = PcapSnaplen
		pkt = pkt[:PcapSnaplen]
	}
	if s.err != nil {
		return // the capture is already broken; do not write a torn record after it
	}
	if err := s.w.WritePacket(ci, pkt); err != nil {
		s.err = fmt.Errorf("tun: pcap record: %w", err)
	}
}

// Flush flushes the output if it has a Flush method (a *bufio.Writer does)
// and returns the first error met writing the capture.
func (s *Sniffer) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.out.(interface{ Flush() error }); ok && s.err == nil {
		if err := f.Flush(); err != nil {
			s.err = fmt.Errorf("tun: pcap flush: %w", err)
		}
	}
	return s.err
}

// Close closes the wrapped link, then flushes the capture. It does not
// close the output writer, which belongs to the caller.
func (s *Sniffer) Close() error {
	return errors.Join(s.l.Close(), s.Flush())
}
