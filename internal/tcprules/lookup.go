package tcprules

import (
	"bytes"
)

// Query is a connection as tcpserver sees it. Host and Info are optional:
// tcpserver -H leaves the host unknown and -R the ident user. An empty host
// that is known still counts (it matches the "=" rule).
type Query struct {
	IP      string // as tcpserver prints it; see NormalizeIP
	Host    string
	HasHost bool
	Info    string
	HasInfo bool
}

// Candidates lists the keys tcpserver tries, in its order; the first key
// present in the cdb decides: info@ip, info@=host, ip, =host, the prefixes of
// ip ending in '.' or ':' (longest first), =.suffix for each dot in host,
// "=", and finally the default "".
func Candidates(q Query) []string {
	var keys []string
	if q.HasInfo {
		keys = append(keys, q.Info+"@"+q.IP)
		if q.HasHost {
			keys = append(keys, q.Info+"@="+q.Host)
		}
	}
	keys = append(keys, q.IP)
	if q.HasHost {
		keys = append(keys, "="+q.Host)
	}
	for n := len(q.IP); n > 0; n-- {
		if c := q.IP[n-1]; c == '.' || c == ':' {
			keys = append(keys, q.IP[:n])
		}
	}
	if q.HasHost {
		for i := 0; i < len(q.Host); i++ {
			if q.Host[i] == '.' {
				keys = append(keys, "="+q.Host[i:])
			}
		}
		keys = append(keys, "=")
	}
	return append(keys, "")
}

// Getter returns the first record stored under key; *cdb.Reader's Get is one.
type Getter func(key []byte) (data []byte, ok bool, err error)

// Decision is what tcpserver does with a connection.
type Decision struct {
	Matched bool     // false: no key matched, the connection is allowed with no variables
	Key     string   // the key that matched
	Tried   []string // the keys tried, up to and including Key
	Deny    bool
	Env     []Var  // variables set (and, IndiMail, unset) in order
	Data    []byte // the record as stored
}

// Lookup finds the rule that decides q, as tcpserver does.
func Lookup(get Getter, q Query) (Decision, error) {
	var d Decision
	for _, k := range Candidates(q) {
		d.Tried = append(d.Tried, k)
		data, ok, err := get([]byte(k))
		if err != nil {
			return d, err
		}
		if ok {
			d.Matched, d.Key, d.Data = true, k, data
			d.Deny, d.Env = Decode(data)
			return d, nil
		}
	}
	return d, nil
}

// Decode reads a rules cdb value as tcpserver does: NUL-terminated items, "D"
// denies, "+NAME=VALUE" sets, "-NAME" unsets (IndiMail); items without "=",
// unknown items and trailing bytes without a NUL are ignored.
func Decode(data []byte) (deny bool, env []Var) {
	for len(data) > 0 {
		end := bytes.IndexByte(data, 0)
		if end < 0 {
			break
		}
		item := data[:end]
		data = data[end+1:]
		if len(item) == 0 {
			continue
		}
		switch item[0] {
		case 'D':
			deny = true
		case '+':
			if eq := bytes.IndexByte(item, '='); eq >= 0 {
				env = append(env, Var{Name: string(item[1:eq]), Value: string(item[eq+1:])})
			}
		case '-':
			env = append(env, Var{Name: string(item[1:]), Unset: true})
		}
	}
	return deny, env
}

// Apply returns the environment a tcpserver child gets: base with the
// decision's variables set and unset in order (the last setting wins).
func (d Decision) Apply(base map[string]string) map[string]string {
	env := make(map[string]string, len(base)+len(d.Env))
	for k, v := range base {
		env[k] = v
	}
	for _, v := range d.Env {
		if v.Unset {
			delete(env, v.Name)
		} else {
			env[v.Name] = v.Value
		}
	}
	return env
}
