package cli

import "github.com/spf13/cobra"

func (a *app) newControlCmds() []*cobra.Command { return nil }
