package cli

import "github.com/spf13/cobra"

func (a *app) newRelayCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "relay",
		Short: "Test and audit the relay decision; manage the relay table",
	}
	cmd.AddCommand(a.newRelayTableCmd())
	return cmd
}
