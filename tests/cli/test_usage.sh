#!/usr/bin/env bash
# The dispatcher: help, version, unknown commands.
. "$(dirname "$0")/lib.sh"
expect_exit 2 "no command is a usage error" "$SHOAL"
expect_grep "$T/err" '^usage: shoal' "usage goes to stderr"
expect_exit 0 "--help" "$SHOAL" --help
expect_grep "$T/out" 'commands:' "help lists commands"
expect_exit 0 "--version" "$SHOAL" --version
expect_grep "$T/out" '^shoal [0-9]+\.[0-9]+' "version printed"
expect_exit 2 "unknown command" "$SHOAL" frobnicate
expect_grep "$T/err" "unknown command 'frobnicate'" "names the unknown command"
finish
