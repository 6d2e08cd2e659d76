package control

// Results of doMatch, as in Rich Salz's wildmat.c. abort means "the text ran
// out": no later starting point of an enclosing star can match either, which
// keeps failing patterns like "*a*b*c*d" linear instead of quadratic.
const (
	wmFalse = iota
	wmTrue
	wmAbort
)

// Wildmat reports whether text matches pattern, with the semantics of Rich
// Salz's wildmat as used by IndiMail (libqmail base/wildmat.c): * matches any
// run of bytes, ? one byte, \x the byte x, and [...] a class of bytes with
// ranges (a-z) and ^ for negation right after the [ (a ] or - right after [
// or [^ is a member). Matching is case-sensitive and byte-wise (bytes compare
// as unsigned). Where the C code reads past the end of a malformed pattern
// (an unclosed [ or a trailing \), Wildmat reports no match.
func Wildmat(pattern, text string) bool {
	return doMatch(text, pattern) == wmTrue
}

func doMatch(t, p string) int {
	ti, pi := 0, 0
	for ; pi < len(p); ti, pi = ti+1, pi+1 {
		if ti >= len(t) && p[pi] != '*' {
			return wmAbort
		}
		switch p[pi] {
		case '\\':
			pi++
			if pi >= len(p) || t[ti] != p[pi] {
				return wmFalse
			}
		case '?':
		case '*':
			for pi++; pi < len(p) && p[pi] == '*'; pi++ {
			}
			if pi >= len(p) {
				return wmTrue
			}
			for ; ti < len(t); ti++ {
				if m := doMatch(t[ti:], p[pi:]); m != wmFalse {
					return m
				}
			}
			return wmAbort
		case '[':
			c := t[ti]
			reverse := pi+1 < len(p) && p[pi+1] == '^'
			if reverse {
				pi++
			}
			matched := false
			if pi+1 < len(p) && (p[pi+1] == ']' || p[pi+1] == '-') {
				pi++
				if p[pi] == c {
					matched = true
				}
			}
			last := p[pi]
			for {
				pi++
				if pi >= len(p) {
					return wmFalse // unclosed class
				}
				if p[pi] == ']' {
					break
				}
				if p[pi] == '-' && pi+1 < len(p) && p[pi+1] != ']' {
					pi++
					if c <= p[pi] && c >= last {
						matched = true
					}
				} else if c == p[pi] {
					matched = true
				}
				last = p[pi]
			}
			if matched == reverse {
				return wmFalse
			}
		default:
			if t[ti] != p[pi] {
				return wmFalse
			}
		}
	}
	if ti == len(t) {
		return wmTrue
	}
	return wmFalse
}
