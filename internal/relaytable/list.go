package relaytable

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// listChunk is how many rows one SQLite query of Each reads; a variable for tests.
var listChunk = 10_000

// Each calls fn with every row matching f (live or expired), newest first, then by email
// and IP, and NULL timestamps last; it stops at fn's first error and returns it as is.
// Memory does not grow with the table, so a 1,000,000-row table lists in a few MiB.
//
// On MySQL it is one query whose rows the driver reads as fn consumes them: InnoDB's
// consistent read blocks no writer. On SQLite a reader holds the file's shared lock
// until its query ends, which would keep every writer (POP/IMAP logins, the cron
// clear) waiting while fn writes to a pipe nobody reads, such as a pager. Each
// therefore reads listChunk rows per query, resuming after the last row it gave (keyset
// pagination on the ORDER BY columns, whose (email, ipaddr) is unique), and holds no
// lock while fn runs. Rows added or removed meanwhile may or may not be seen, as with
// any listing of a table in use.
func (s *Store) Each(ctx context.Context, f Filter, fn func(Row) error) error {
	conds, args, err := filterConds(f)
	if err != nil {
		return err
	}
	sel := "SELECT email, ipaddr, timestamp FROM " + s.q.quoted
	if s.backend == MySQL {
		return s.eachQuery(ctx, sel+where(conds)+" ORDER BY timestamp DESC, email, ipaddr", args, fn)
	}
	var batch []Row
	for _, nulls := range []bool{false, true} {
		var last *Row
		for {
			c, a := conds, args
			order := " ORDER BY timestamp DESC, email, ipaddr"
			if nulls {
				c, order = append(c[:len(c):len(c)], "timestamp IS NULL"), " ORDER BY email, ipaddr"
				if last != nil {
					c = append(c, "(email > ? OR (email = ? AND ipaddr > ?))")
					a = append(a[:len(a):len(a)], last.Email, last.Email, last.IP)
				}
			} else {
				c = append(c[:len(c):len(c)], "timestamp IS NOT NULL")
				if last != nil {
					// timestamp <= ? alone lets the index on timestamp seek; the rest
					// orders rows of the same second.
					ts := last.Time.Unix()
					c = append(c, "timestamp <= ? AND (timestamp < ? OR email > ? OR (email = ? AND ipaddr > ?))")
					a = append(a[:len(a):len(a)], ts, ts, last.Email, last.Email, last.IP)
				}
			}
			q := sel + where(c) + order + fmt.Sprintf(" LIMIT %d", listChunk)
			err := s.retry(ctx, "list", func() error {
				rows, err := s.db.QueryContext(ctx, q, a...)
				if err != nil {
					return err
				}
				batch, err = scanRows(rows, batch[:0]...)
				return err
			})
			if err != nil {
				return err
			}
			for _, r := range batch {
				if err := fn(r); err != nil {
					return err
				}
			}
			if len(batch) < listChunk {
				break
			}
			last = &batch[len(batch)-1]
		}
	}
	return nil
}

// eachQuery streams the rows of one query to fn. Only starting it is retried on a lock
// conflict: once fn has rows, starting again would repeat them.
func (s *Store) eachQuery(ctx context.Context, q string, args []any, fn func(Row) error) error {
	var rows *sql.Rows
	err := s.retry(ctx, "list", func() (err error) {
		rows, err = s.db.QueryContext(ctx, q, args...)
		return err
	})
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r Row
		var ts sql.NullInt64
		if err := rows.Scan(&r.Email, &r.IP, &ts); err != nil {
			return s.dbErr("list", err)
		}
		r.Time = fromUnix(ts)
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return s.dbErr("list", err)
	}
	return nil
}

// List returns the rows Each gives, in a slice: for small selections and tests.
func (s *Store) List(ctx context.Context, f Filter) ([]Row, error) {
	var out []Row
	err := s.Each(ctx, f, func(r Row) error {
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func where(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}
