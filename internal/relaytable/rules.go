package relaytable

import (
	"context"
	"database/sql"
)

// RuleIPs returns the ipaddr of every row, live or expired, duplicates kept,
// in the order IndiMail's update_rules (vupdate_rules) reads them to write
// one `IP:allow,RELAYCLIENT=""` line each ahead of tcp.smtp.
//
// update_rules runs `select high_priority ipaddr from TABLE`: no WHERE, no
// DISTINCT, no ORDER BY. On MySQL the same statement is sent, so the server
// returns the same rows in the same order it gives update_rules (the plan is
// the server's: on MariaDB 10.11 with IndiMail's layout, a scan of the
// (email, ipaddr) unique index, which InnoDB makes the clustered index since
// the table has no primary key — so email order, then ipaddr, in the
// column's collation). On SQLite, qmailctl's own table that no IndiMail
// reads, that order is asked for explicitly: ORDER BY email, ipaddr.
func (s *Store) RuleIPs(ctx context.Context) ([]string, error) {
	q := "SELECT ipaddr FROM " + s.q.quoted + " ORDER BY email, ipaddr"
	if s.backend == MySQL {
		q = "select high_priority ipaddr from " + s.q.quoted
	}
	var ips []string
	err := s.retry(ctx, "read", func() error {
		ips = ips[:0]
		rows, err := s.db.QueryContext(ctx, q)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var ip sql.NullString
			if err := rows.Scan(&ip); err != nil {
				return err
			}
			ips = append(ips, ip.String)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return ips, nil
}
