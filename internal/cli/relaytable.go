package cli

import "github.com/spf13/cobra"

func (a *app) newRelayTableCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "table",
		Short: "Manage the POP/IMAP-before-SMTP relay table",
	}
}
