package tcp

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// slogRecords parses the JSON lines a slog.JSONHandler wrote.
func slogRecords(t *testing.T, text string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "a JSON record: %s", sc.Text())
		recs = append(recs, m)
	}
	return recs
}

// find returns the first record with every attribute of want.
func findRecord(recs []map[string]any, want map[string]any) map[string]any {
next:
	for _, r := range recs {
		for k, v := range want {
			if r[k] != v {
				continue next
			}
		}
		return r
	}
	return nil
}

func TestSlogTracer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out lockedBuffer
		p := tracedPair(t, NewSlogTracer(slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))))
		ca, cb := p.connect(t, 80)
		_, err := ca.Write([]byte("hello"))
		require.NoError(t, err)
		_, err = io.ReadFull(cb, make([]byte, 5))
		require.NoError(t, err)
		require.NoError(t, ca.Close())
		synctest.Wait()

		recs := slogRecords(t, out.String())
		syn := findRecord(recs, map[string]any{"msg": "segment out", "flags": "[SYN]"})
		require.NotNil(t, syn, "the SYN is logged")
		assert.Equal(t, "DEBUG", syn["level"], "segments at Debug")
		assert.Equal(t, "syn", syn["why"], "with its reason")
		assert.Equal(t, "RFC 9293 §3.10.1", syn["rule"], "and its rule")
		assert.Equal(t, ca.ID().Local.String()+"-"+ca.ID().Remote.String(), syn["conn"], "and the connection")
		for _, k := range []string{"seq", "ack", "len", "win", "dir", "at"} {
			assert.Contains(t, syn, k, "a segment record has %s", k)
		}
		st := findRecord(recs, map[string]any{"msg": "state", "from": "SYN-SENT", "to": "ESTABLISHED"})
		require.NotNil(t, st, "the state change is logged")
		assert.Equal(t, "INFO", st["level"], "state changes at Info")
		w := findRecord(recs, map[string]any{"msg": "user", "event": "Write"})
		require.NotNil(t, w, "the Write is logged")
		assert.Equal(t, "INFO", w["level"], "user events at Info")
		assert.EqualValues(t, 5, w["n"], "with its octets")
		assert.NotNil(t, findRecord(recs, map[string]any{"msg": "user", "event": "Close", "fin": true}), "Close queued the FIN")
		assert.NotNil(t, findRecord(recs, map[string]any{"msg": "segment in", "flags": "[SYN, ACK]"}), "arriving segments are logged")
		assert.NotNil(t, findRecord(recs, map[string]any{"msg": "sender"}), "the congestion state is logged")
	})
}

// TestSlogTracer_InfoSkipsSegments checks that a logger at Info logs state
// changes and user events, not segments.
func TestSlogTracer_InfoSkipsSegments(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out lockedBuffer
		p := tracedPair(t, NewSlogTracer(slog.New(slog.NewJSONHandler(&out, nil))))
		p.connect(t, 80)
		synctest.Wait()
		recs := slogRecords(t, out.String())
		assert.Nil(t, findRecord(recs, map[string]any{"level": "DEBUG"}), "nothing at Debug")
		assert.NotNil(t, findRecord(recs, map[string]any{"msg": "user", "event": "Dial returns"}), "user events at Info")
	})
}
