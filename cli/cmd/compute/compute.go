package compute

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
	"github.com/tandemml/tandem/spec"
)

// NewCmdCompute returns the compute command group.
func NewCmdCompute(f *cmdutil.Factory) *cobra.Command {
	cmd := cmdutil.GroupCommand("compute", "Targets for jobs: the built-in local compute and amlcompute clusters")
	f.AddConnectionFlags(cmd)
	cmd.AddCommand(computeCreateCommand(f), computeListCommand(f), computeShowCommand(f), computeDeleteCommand(f), computeUpdateCommand(f), computeQuotaCommand(f))
	return cmd
}

func computeCreateCommand(f *cmdutil.Factory) *cobra.Command {
	var file string
	var sets []string
	cmd := &cobra.Command{
		Use:   "create -f FILE [--set key=value ...]",
		Short: "Register a compute from Azure ML YAML: amlcompute, computeinstance or virtualmachine",
		Long: "Register a compute from Azure ML CLI v2 YAML.\n" +
			"An amlcompute cluster holds max_instances × the vCPUs of its size against the\n" +
			"region's core quota (tandem server --quota-cores); creating one past the quota fails\n" +
			"with QuotaExceeded. computeinstance and virtualmachine documents are kept as records:\n" +
			"jobs cannot run on them here. SSH admin passwords go to the workspace vault.",
		Args: cobra.NoArgs,
	}
	out := cmdutil.AddOutputFlag(cmd)
	cmd.Flags().StringVarP(&file, "file", "f", "", "Azure ML CLI v2 compute YAML")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a field, e.g. --set max_instances=4")
	cmd.MarkFlagRequired("file")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		doc, err := spec.Load(f.Path(file), spec.Options{Kind: spec.KindCompute, Set: sets})
		if err != nil {
			return err
		}
		if doc.Kind != spec.KindCompute {
			return tandem.Errorf(tandem.EInvalid, "%s describes a %s, not a compute", file, doc.Kind)
		}
		svc, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		c, err := svc.CreateCompute(cmd.Context(), ws, doc.Fields)
		if err != nil {
			return err
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, c, computeDetails(c))
	}
	return cmd
}

func computeListCommand(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List the workspace's computes, local first", Args: cobra.NoArgs}
	out := cmdutil.AddOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		svc, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		list, err := svc.ListComputes(cmd.Context(), ws)
		if err != nil {
			return err
		}
		t := &cmdutil.Table{Header: []string{"NAME", "TYPE", "STATE", "SIZE", "INSTANCES", "QUOTA CORES"}}
		for _, c := range list {
			t.Add(c.Name, c.Type, c.State, c.Size, instances(c), fmt.Sprint(c.QuotaCores()))
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, cmdutil.NonNil(list), t)
	}
	return cmd
}

func computeShowCommand(f *cmdutil.Factory) *cobra.Command {
	var name string
	cmd := &cobra.Command{Use: "show --name N", Short: "Show a compute; -o yaml prints its Azure ML document", Args: cobra.NoArgs}
	out := cmdutil.AddOutputFlag(cmd)
	cmd.Flags().StringVarP(&name, "name", "n", "", "compute name")
	cmd.MarkFlagRequired("name")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		svc, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		c, err := svc.FindCompute(cmd.Context(), ws, name)
		if err != nil {
			return err
		}
		if c.BuiltIn && *out == cmdutil.FormatYAML {
			return cmdutil.WriteOutput(f.Env.Stdout, *out, c, computeDetails(c))
		}
		return cmdutil.WriteDocument(f.Env.Stdout, *out, c, spec.KindCompute, c.Type, c.Spec, computeDetails(c))
	}
	return cmd
}

func computeDeleteCommand(f *cmdutil.Factory) *cobra.Command {
	var name string
	var yes bool
	cmd := &cobra.Command{Use: "delete --name N [--yes]", Short: "Delete a compute's record (jobs that ran on it keep theirs)", Args: cobra.NoArgs}
	cmd.Flags().StringVarP(&name, "name", "n", "", "compute name")
	cmd.MarkFlagRequired("name")
	cmdutil.AddYesFlag(cmd, &yes)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		svc, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		if err := f.Confirm(cmd.Context(), yes, fmt.Sprintf("delete compute %q", name), fmt.Sprintf("Delete compute %q of workspace %q?", name, ws)); err != nil {
			return err
		}
		if err := svc.DeleteCompute(cmd.Context(), ws, name); err != nil {
			return err
		}
		fmt.Fprintf(f.Env.Stdout, "Compute %q deleted.\n", name)
		return nil
	}
	return cmd
}

func computeUpdateCommand(f *cmdutil.Factory) *cobra.Command {
	var name, description string
	var minI, maxI, idle int
	var tags []string
	cmd := &cobra.Command{
		Use:   "update --name N [--min-instances N] [--max-instances N] [--idle-time-before-scale-down S] [--description D] [--tags k=v ...]",
		Short: "Change a cluster's scale settings; a larger max_instances must fit the region's quota",
		Args:  cobra.NoArgs,
	}
	out := cmdutil.AddOutputFlag(cmd)
	flags := cmd.Flags()
	flags.StringVarP(&name, "name", "n", "", "compute name")
	flags.IntVar(&minI, "min-instances", 0, "fewest instances")
	flags.IntVar(&maxI, "max-instances", 0, "most instances: jobs running at once")
	flags.IntVar(&idle, "idle-time-before-scale-down", 0, "seconds an idle instance waits before it goes")
	flags.StringVar(&description, "description", "", "new description")
	flags.StringArrayVar(&tags, "tags", nil, "new tags as key=value, replacing all tags; '' clears them")
	cmd.MarkFlagRequired("name")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var u tandem.ComputeUpdate
		if flags.Changed("min-instances") {
			u.MinInstances = &minI
		}
		if flags.Changed("max-instances") {
			u.MaxInstances = &maxI
		}
		if flags.Changed("idle-time-before-scale-down") {
			u.IdleTimeBeforeScaleDown = &idle
		}
		if flags.Changed("description") {
			u.Description = &description
		}
		if flags.Changed("tags") {
			parsed, err := cmdutil.ParseTags(tags)
			if err != nil {
				return err
			}
			if u.Tags = parsed; u.Tags == nil {
				u.Tags = map[string]string{}
			}
		}
		if u.MinInstances == nil && u.MaxInstances == nil && u.IdleTimeBeforeScaleDown == nil && u.Description == nil && u.Tags == nil {
			return tandem.Errorf(tandem.EInvalid, "nothing to update: pass --min-instances, --max-instances, --idle-time-before-scale-down, --description or --tags")
		}
		svc, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		c, err := svc.UpdateCompute(cmd.Context(), ws, name, u)
		if err != nil {
			return err
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, c, computeDetails(c))
	}
	return cmd
}

func computeQuotaCommand(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "quota", Short: "Show the region's core quota and the clusters that hold it (region admin)", Args: cobra.NoArgs}
	out := cmdutil.AddOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, _, err := f.Client()
		if err != nil {
			return err
		}
		q, err := c.RegionQuota(cmd.Context())
		if err != nil {
			return err
		}
		limit := "none"
		if q.LimitCores > 0 {
			limit = fmt.Sprint(q.LimitCores)
		}
		holders := make([]string, 0, len(q.Clusters))
		for k, v := range q.Clusters {
			holders = append(holders, fmt.Sprintf("%s=%d", k, v))
		}
		sort.Strings(holders)
		d := cmdutil.Details{{"Region", q.Region}, {"Quota (cores)", limit}, {"In use (cores)", fmt.Sprint(q.UsedCores)}, {"Clusters", strings.Join(holders, ", ")}}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, q, d)
	}
	return cmd
}

func instances(c *tandem.Compute) string {
	if c.Type != "amlcompute" && !c.BuiltIn {
		return ""
	}
	return fmt.Sprintf("%d-%d", c.MinInstances, c.MaxInstances)
}

func computeDetails(c *tandem.Compute) cmdutil.Details {
	d := cmdutil.Details{
		{"Name", c.Name},
		{"Type", c.Type},
		{"State", c.State},
	}
	if c.StateReason != "" {
		d = append(d, [2]string{"Reason", c.StateReason})
	}
	if c.Size != "" {
		d = append(d, [2]string{"Size", fmt.Sprintf("%s (%d vCPUs)", c.Size, c.Cores)})
	}
	if inst := instances(c); inst != "" {
		d = append(d, [2]string{"Instances (min-max)", inst})
	}
	if c.Type == "amlcompute" {
		d = append(d, [2]string{"Quota cores", fmt.Sprint(c.QuotaCores())},
			[2]string{"Idle time before scale down", fmt.Sprintf("%ds", c.IdleTimeBeforeScaleDown)})
	}
	d = append(d, [2]string{"Description", c.Description}, [2]string{"Tags", cmdutil.FormatTags(c.Tags)})
	keys := make([]string, 0, len(c.Credentials))
	for k := range c.Credentials {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d = append(d, [2]string{"Secret " + k, "in vault secret " + c.Credentials[k]})
	}
	if c.Type == "amlcompute" {
		d = append(d, [2]string{"Agents", fmt.Sprint(len(c.Agents))})
		for _, ag := range c.Agents {
			v := ag.State
			if ag.Job != "" {
				v += ", job " + ag.Job
			}
			if ag.Host != "" {
				v += ", host " + ag.Host
			}
			v += ", last heartbeat " + cmdutil.FormatTime(ag.LastHeartbeat)
			d = append(d, [2]string{"Agent " + ag.ID, v})
		}
	}
	return append(d, [2]string{"Created", cmdutil.FormatTime(c.CreatedAt)})
}
