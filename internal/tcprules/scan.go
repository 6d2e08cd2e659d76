package tcprules

import (
	"bufio"
	"fmt"
	"io"

	"github.com/qmailctl/qmailctl/internal/diag"
)

// lineReader reads a rules file one line at a time through a fixed buffer,
// so that a reader holds one line in memory however large the file is. Every
// reader of rules files (Scanner, Compile) goes through it.
type lineReader struct {
	name string
	br   *bufio.Reader
	long []byte // a line longer than the buffer, assembled here
	done bool
}

func newLineReader(name string, r io.Reader) *lineReader {
	return &lineReader{name: name, br: bufio.NewReaderSize(r, 64<<10)}
}

// next returns the next line with its newline (the last line may lack one),
// valid until the following call, or nil at the end of the input.
func (l *lineReader) next() ([]byte, error) {
	if l.done {
		return nil, nil
	}
	line, err := l.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		l.long = append(l.long[:0], line...)
		for err == bufio.ErrBufferFull {
			line, err = l.br.ReadSlice('\n')
			l.long = append(l.long, line...)
		}
		line = l.long
	}
	if err == io.EOF {
		l.done = true
		err = nil
	}
	if err != nil {
		l.done = true
		return nil, fmt.Errorf("read %s: %w", l.name, err)
	}
	if len(line) == 0 {
		return nil, nil
	}
	return line, nil
}

// Scanner reads a rules file line by line, with the grammar and diagnostics
// of Parse (which is built on it), holding only the current line: tcp list,
// check and the editor read a million-line file in constant memory.
type Scanner struct {
	lr    *lineReader
	p     parsed
	line  Line
	probs []diag.Problem
	err   error
}

// NewScanner returns a Scanner reading the rules file name from r.
func NewScanner(name string, r io.Reader) *Scanner {
	return &Scanner{lr: newLineReader(name, r)}
}

// Scan advances to the next line. It returns false at the end of the input
// or on a read error, which Err then returns.
func (s *Scanner) Scan() bool {
	if s.err != nil {
		return false
	}
	raw, err := s.lr.next()
	if err != nil {
		s.err = err
		return false
	}
	if raw == nil {
		return false
	}
	num := s.line.Num + 1
	text := raw
	if text[len(text)-1] == '\n' {
		text = text[:len(text)-1]
	}
	rule, probs := parseRule(s.lr.name, num, text, &s.p)
	s.line = Line{Num: num, Raw: raw, Rule: rule}
	s.probs = probs
	return true
}

// Line is the current line. Its Raw bytes are valid only until the next
// Scan; its Rule (nil for comments, blank and skipped lines and lines with
// a syntax error) stays valid.
func (s *Scanner) Line() Line { return s.line }

// Problems are the diagnostics of the current line: a syntax error
// (diag.Error), a line tcprules skips or a rule that can never match
// (diag.Warning), a CIDR expansion (diag.Info).
func (s *Scanner) Problems() []diag.Problem { return s.probs }

// Err is the read error that ended the scan, if any.
func (s *Scanner) Err() error { return s.err }
