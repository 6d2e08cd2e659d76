package relay

import (
	"context"
	"time"

	"github.com/qmailctl/qmailctl/internal/control"
	"github.com/qmailctl/qmailctl/internal/tcprules"
)

// The replies IndiMail's qmail-smtpd gives, byte for byte (smtpd.c).
const (
	ReplyOK        = "250 ok"
	ReplyNoRelay   = "550 we don't relay (#5.7.1)"
	ReplyNoGateway = "553 sorry, that domain isn't allowed to be relayed thru this MTA without authentication #5.7.1"
	ReplyBounce    = "553 sorry, bounce messages should have a single envelope recipient (#5.7.1)"
	ReplyAuthReq   = "530 authentication required (#5.7.1)"
	ReplyTableErr  = "451 Sorry, I got a temporary database error (#4.3.2)"
	// ReplyBadSequence answers every command after a SHUTDOWN greeting.
	ReplyBadSequence = "503 bad sequence of commands (#5.3.2)"
	// ReplyMailFirst answers RCPT when MAIL FROM was refused.
	ReplyMailFirst = "503 MAIL first (#5.5.1)"
	// ReplyDropped stands for the absence of any reply: tcpserver closes
	// the connection before qmail-smtpd starts.
	ReplyDropped = "(no reply: tcpserver closes the connection before the greeting)"
)

// ReplyNoRcptHosts is notqmail's (and netqmail's) refusal of a recipient
// that is not local for a client without RELAYCLIENT (qmail-smtpd.c
// err_nogateway).
const ReplyNoRcptHosts = "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"

// MTA names the qmail-smtpd whose behaviour the engine models.
type MTA string

// The servers the engine models.
const (
	// MTAIndiMail is IndiMail's qmail-smtpd (smtpd.c): relayclients,
	// relaydomains, relaymailfrom, AUTH, the relay table and the
	// greeting-time refusals.
	MTAIndiMail MTA = "indimail"
	// MTANotqmail is notqmail's qmail-smtpd, which netqmail 1.06 and
	// Life with qmail installs share: only RELAYCLIENT, rcpthosts and
	// morercpthosts.cdb decide.
	MTANotqmail MTA = "notqmail"
)

// ParseMTA reads an --mta value; netqmail and lwq are notqmail.
func ParseMTA(s string) (MTA, bool) {
	switch s {
	case "indimail":
		return MTAIndiMail, true
	case "notqmail", "netqmail", "lwq", "qmail":
		return MTANotqmail, true
	}
	return "", false
}

// noGatewayAuth is err_nogateway's reply for an authenticated client
// without relay rights: IndiMail appends ", auth <user>" before the code
// (smtpd.c err_nogateway).
func noGatewayAuth(user string) string {
	return "553 sorry, that domain isn't allowed to be relayed thru this MTA without authentication, auth <" + user + "> #5.7.1"
}

// CDB is a cdb lookup (*cdb.Reader is one); nil means the cdb does not exist.
type CDB interface {
	Get(key []byte) (data []byte, ok bool, err error)
}

// TableAnswer is the relay table's answer for (sender, IP).
type TableAnswer struct {
	// Allowed: a row for the sender at the IP is younger than the window.
	Allowed bool
	// IndiMailAllowed is IndiMail's answer, which compares only the length
	// of MAIL FROM (a prefix of a stored address matches).
	IndiMailAllowed bool
	// Detail says which row matched, or why none did.
	Detail string
}

// RelayTableFunc checks the POP/IMAP-before-SMTP relay table. The error is
// a database failure (IndiMail answers 451 then).
type RelayTableFunc func(ctx context.Context, from, ip string, now time.Time, minutes int) (TableAnswer, error)

// Config is the relay configuration the engine decides with. Every field
// may be zero: a nil file or cdb is a missing one.
type Config struct {
	// Rules looks keys up in tcp.smtp.cdb; nil with RulesMissing false
	// means tcpserver runs without -x (no rules at all).
	Rules tcprules.Getter
	// RulesMissing: the -x cdb does not exist, so tcpserver drops every
	// connection (unless it runs with -X).
	RulesMissing bool
	RulesCDB     string // path of the rules cdb, for the trace
	RulesSource  string // path of its source (tcp.smtp)
	// FindRule maps a cdb key to the first rule of the source storing it
	// (see FindRule); nil when the source is unknown.
	FindRule func(key string) (*tcprules.Rule, error)
	// RulesStaleKnown: the loader has already warned that the rules cdb is
	// stale, so the trace does not say it again.
	RulesStaleKnown bool

	RelayClients     *control.File
	RelayDomains     *control.File
	RcptHosts        *control.File
	RelayMailFrom    *TextFile
	RelayMailFromCDB CDB
	MoreRcptHostsCDB CDB
	ControlDir       string // for the paths of the cdbs in decided_by

	// MTA is the server modelled; empty means IndiMail.
	MTA MTA
	// LocalIPHost is what qmail-smtpd writes for the domain of an address
	// user@[ip] when ip is one of LocalIPs: control/localiphost, else
	// control/me; "" when both are missing (no rewrite).
	LocalIPHost string
	// LocalIPs are the server's own IPv4 addresses (qmail's ipme: every
	// interface's address; 0.0.0.0 is always one).
	LocalIPs []string
	// NoGreeting: neither control/smtpgreeting nor control/me exists, so
	// qmail-smtpd refuses the session before its greeting (ControlsRefusal).
	NoGreeting bool

	// RelayTable answers CHECKRELAY; nil when no relay table is reachable.
	RelayTable RelayTableFunc
	// RelayTableNote says why RelayTable is nil, for the trace.
	RelayTableNote string

	// RBL is the rblsmtpd the service runs before qmail-smtpd; nil when none.
	RBL *RBL
}

// Query is one SMTP session to decide.
type Query struct {
	IP      string // normalised as tcpserver prints it (tcprules.NormalizeIP)
	Host    string // TCPREMOTEHOST; only with HasHost (tcpserver without -H)
	HasHost bool
	Info    string // TCPREMOTEINFO; only with HasInfo (tcpserver without -R)
	HasInfo bool
	// Auth is the SMTP AUTH user when HasAuth. AuthNoRelay means the
	// authpgm exits 3: the user is authenticated but has IndiMail's
	// NO_RELAY flag, so AUTH gives no relay rights.
	Auth        string
	HasAuth     bool
	AuthNoRelay bool
	From        string   // MAIL FROM argument as given
	Rcpts       []string // RCPT TO arguments as given, in order
	// Env is the environment qmail-smtpd starts with before tcpserver adds
	// the rule's variables: the run script's (envdir variables, --env).
	Env map[string]string
	// Now is the time for the relay table window.
	Now time.Time
}

// InputError is a query the engine cannot decide: an unparsable address.
type InputError struct {
	What string // "MAIL FROM", "RCPT TO #2"
	Err  error
}

func (e *InputError) Error() string { return e.What + ": " + e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// Source names what decided a verdict: the step's source ("tcp.smtp",
// "relayclients", "auth", "rcpthosts", ...) and, where a file did, its path,
// line and the line's text.
type Source struct {
	Source SourceKind `json:"source"`
	File   string     `json:"file"`
	Line   int        `json:"line"`
	Rule   string     `json:"rule"`
}

// SourceKind names what decided a verdict (Source.Source).
type SourceKind string

// The sources of a verdict.
const (
	SourceTCPServer        SourceKind = "tcpserver" // no rules cdb: every connection dropped
	SourceTCPSMTP          SourceKind = "tcp.smtp"
	SourceEnvironment      SourceKind = "environment" // the run script's variables or --env
	SourceRelayClients     SourceKind = "relayclients"
	SourceRelayDomains     SourceKind = "relaydomains"
	SourceAuth             SourceKind = "auth"
	SourceRelayMailFromCDB SourceKind = "relaymailfrom.cdb"
	SourceRelayMailFrom    SourceKind = "relaymailfrom"
	SourceRelayProbe       SourceKind = "relay probe"
	SourceRcptHosts        SourceKind = "rcpthosts"
	SourceMoreRcptHosts    SourceKind = "morercpthosts.cdb"
	SourceAuthAll          SourceKind = "AUTH_ALL"
	SourceRelayTable       SourceKind = "relay table"
	SourceBounce           SourceKind = "bounce"
	SourceControls         SourceKind = "control files" // smtpgreeting and me both missing
)

// StepKind names a step of the decision (Step.Step).
type StepKind string

// The steps, in the order qmail-smtpd takes them.
const (
	StepTCPServer        StepKind = "tcpserver"
	StepGreeting         StepKind = "greeting"
	StepRelayClient      StepKind = "RELAYCLIENT"
	StepRelayClients     StepKind = "relayclients"
	StepRelayDomains     StepKind = "relaydomains"
	StepAuth             StepKind = "AUTH"
	StepRequireAuth      StepKind = "REQUIREAUTH"
	StepRelayMailFromCDB StepKind = "relaymailfrom.cdb"
	StepRelayMailFrom    StepKind = "relaymailfrom"
	StepRelayProbe       StepKind = "relay probe"
	StepRcptHosts        StepKind = "rcpthosts"
	StepAccept           StepKind = "accept"
	StepRelayTable       StepKind = "relay table"
	StepBounce           StepKind = "bounce"
	StepRefuse           StepKind = "refuse"
)

// Step is one step of the decision, matched or not, with why.
type Step struct {
	Phase    string   `json:"phase"`  // connect, auth, mail, rcpt
	Number   int      `json:"number"` // the step of the decision (1-9, docs/relay.md)
	Step     StepKind `json:"step"`   // tcpserver, RELAYCLIENT, relayclients, ...
	File     string   `json:"file"`
	Line     int      `json:"line,omitempty"`
	Result   string   `json:"result"`
	Detail   string   `json:"detail"`
	Matched  bool     `json:"matched"`
	Decisive bool     `json:"decisive"`
}

// Outcome is what happens to a recipient: Verdict.Documented is the one
// IndiMail's documentation promises where its code does otherwise.
type Outcome struct {
	Accepted bool   `json:"accepted"`
	Relaying bool   `json:"relaying"`
	Reply    string `json:"reply"`
	QueuedAs string `json:"queued_as"`
	// QueuedUnknown: bytes IndiMail appends cannot be predicted.
	QueuedUnknown bool `json:"queued_unknown,omitempty"`
}

// Verdict is the decision for one recipient.
type Verdict struct {
	Rcpt      Address `json:"rcpt"`
	Accepted  bool    `json:"accepted"`
	Relaying  bool    `json:"relaying"` // accepted with relay rights (RELAYCLIENT appended)
	Local     bool    `json:"local"`    // the domain is in rcpthosts or morercpthosts.cdb
	Reply     string  `json:"reply"`
	DecidedBy Source  `json:"decided_by"`
	// QueuedAs is the recipient as qmail-smtpd queues it: with the relay
	// client string appended when relaying. QueuedUnknown: IndiMail
	// appends bytes past QueuedAs that cannot be predicted.
	QueuedAs      string `json:"queued_as"`
	QueuedUnknown bool   `json:"queued_unknown,omitempty"`
	// Trace is every step, the session's (connect, AUTH, MAIL) first.
	Trace    []Step   `json:"trace"`
	Warnings []string `json:"warnings"`
	// Documented is set when IndiMail's documentation promises another
	// outcome than its code gives; the verdict follows the code.
	Documented *Outcome `json:"documented,omitempty"`
}

// Result is the decision for a whole session.
type Result struct {
	IP      string         `json:"ip"`
	From    Address        `json:"from"`
	Dropped bool           `json:"dropped"` // tcpserver denies the connection
	Env     []tcprules.Var `json:"env"`     // qmail-smtpd's environment, sorted by name
	// Recipients has one verdict per RCPT, in order.
	Recipients []Verdict `json:"recipients"`
	// Warnings are every warning of the session, without duplicates.
	Warnings []string `json:"warnings"`
}

// Actual is the verdict's outcome: what the modelled server's code does.
func (v *Verdict) Actual() Outcome {
	return Outcome{Accepted: v.Accepted, Relaying: v.Relaying, Reply: v.Reply, QueuedAs: v.QueuedAs, QueuedUnknown: v.QueuedUnknown}
}

// Accepted reports whether every recipient is accepted.
func (r *Result) Accepted() bool {
	for _, v := range r.Recipients {
		if !v.Accepted {
			return false
		}
	}
	return len(r.Recipients) > 0
}

// Deciding returns the verdict that speaks for the session: the first
// refused recipient, or the first one when all are accepted.
func (r *Result) Deciding() *Verdict {
	for i := range r.Recipients {
		if !r.Recipients[i].Accepted {
			return &r.Recipients[i]
		}
	}
	return &r.Recipients[0]
}

// TextFile is a control file's content, handed to the engine so that it
// does no I/O itself; nil means the file does not exist.
type TextFile struct {
	Path string
	Data []byte
}
