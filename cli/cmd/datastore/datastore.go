package datastore

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
	"github.com/tandemml/tandem/spec"
)

// NewCmdDatastore returns the datastore command group.
func NewCmdDatastore(f *cmdutil.Factory) *cobra.Command {
	cmd := cmdutil.GroupCommand("datastore", "Connections from a workspace to storage; credentials live in the workspace vault")
	f.AddConnectionFlags(cmd)
	cmd.AddCommand(datastoreCreateCommand(f), datastoreListCommand(f), datastoreShowCommand(f), datastoreDeleteCommand(f))
	return cmd
}

func datastoreCreateCommand(f *cmdutil.Factory) *cobra.Command {
	var file string
	var sets []string
	cmd := &cobra.Command{
		Use:   "create -f FILE [--set key=value ...]",
		Short: "Register a datastore: azure_blob, azure_data_lake_gen2, azure_file, local or s3",
		Long: "Register a datastore from Azure ML CLI v2 YAML (or Tandem's local and s3 types).\n" +
			"Secret credentials (account_key, sas_token, client_secret, secret_access_key) are stored\n" +
			"in the workspace vault; show and list never return them.",
		Args: cobra.NoArgs,
	}
	out := cmdutil.AddOutputFlag(cmd)
	cmd.Flags().StringVarP(&file, "file", "f", "", "Azure ML CLI v2 datastore YAML")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a field, e.g. --set description=raw")
	cmd.MarkFlagRequired("file")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		doc, err := spec.Load(f.Path(file), spec.Options{Kind: spec.KindDatastore, Set: sets})
		if err != nil {
			return err
		}
		if doc.Kind != spec.KindDatastore {
			return tandem.Errorf(tandem.EInvalid, "%s describes a %s, not a datastore", file, doc.Kind)
		}
		svc, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		ds, err := svc.CreateDatastore(cmd.Context(), ws, doc.Fields)
		if err != nil {
			return err
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, ds, datastoreDetails(ds))
	}
	return cmd
}

func datastoreListCommand(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List the workspace's datastores", Args: cobra.NoArgs}
	out := cmdutil.AddOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		svc, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		list, err := svc.ListDatastores(cmd.Context(), ws)
		if err != nil {
			return err
		}
		t := &cmdutil.Table{Header: []string{"NAME", "TYPE", "DEFAULT", "CREDENTIALS", "DESCRIPTION"}}
		for _, ds := range list {
			t.Add(ds.Name, ds.Type, fmt.Sprint(ds.Default), credentialNames(ds), ds.Description)
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, cmdutil.NonNil(list), t)
	}
	return cmd
}

func datastoreShowCommand(f *cmdutil.Factory) *cobra.Command {
	var name string
	cmd := &cobra.Command{Use: "show --name N", Short: "Show a datastore (never its credentials)", Args: cobra.NoArgs}
	out := cmdutil.AddOutputFlag(cmd)
	cmd.Flags().StringVarP(&name, "name", "n", "", "datastore name")
	cmd.MarkFlagRequired("name")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		svc, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		ds, err := svc.FindDatastore(cmd.Context(), ws, name)
		if err != nil {
			return err
		}
		// The document leaves credentials out: their secret values stay in
		// the vault, and a partial credentials section would not validate.
		doc := map[string]any{}
		for k, v := range ds.Spec {
			if k != "credentials" {
				doc[k] = v
			}
		}
		return cmdutil.WriteDocument(f.Env.Stdout, *out, ds, spec.KindDatastore, ds.Type, doc, datastoreDetails(ds))
	}
	return cmd
}

func datastoreDeleteCommand(f *cmdutil.Factory) *cobra.Command {
	var name string
	var yes bool
	cmd := &cobra.Command{Use: "delete --name N [--yes]", Short: "Delete a datastore and its vault credentials (not the data it points at)", Args: cobra.NoArgs}
	cmd.Flags().StringVarP(&name, "name", "n", "", "datastore name")
	cmd.MarkFlagRequired("name")
	cmdutil.AddYesFlag(cmd, &yes)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		svc, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		if err := f.Confirm(cmd.Context(), yes, fmt.Sprintf("delete datastore %q", name), fmt.Sprintf("Delete datastore %q of workspace %q?", name, ws)); err != nil {
			return err
		}
		if err := svc.DeleteDatastore(cmd.Context(), ws, name); err != nil {
			return err
		}
		fmt.Fprintf(f.Env.Stdout, "Datastore %q deleted; the data it points at is untouched.\n", name)
		return nil
	}
	return cmd
}

func credentialNames(ds *tandem.Datastore) string {
	var names []string
	for k := range ds.Credentials {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func datastoreDetails(ds *tandem.Datastore) cmdutil.Details {
	d := cmdutil.Details{
		{"Name", ds.Name},
		{"Type", ds.Type},
		{"Default", fmt.Sprint(ds.Default)},
		{"Description", ds.Description},
		{"Tags", cmdutil.FormatTags(ds.Tags)},
	}
	var keys []string
	for k := range ds.Spec {
		switch k {
		case "name", "type", "description", "tags", "credentials":
		default:
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		d = append(d, [2]string{k, fmt.Sprint(ds.Spec[k])})
	}
	for _, k := range strings.Split(credentialNames(ds), ",") {
		if k != "" {
			d = append(d, [2]string{"Credential " + k, "in vault secret " + ds.Credentials[k]})
		}
	}
	return append(d, [2]string{"Created", cmdutil.FormatTime(ds.CreatedAt)})
}
