"""The argparse tree of ``unixipc`` as data: what the man page and the
shell completions are generated from, so they never drift from the parser."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field


@dataclass
class Node:
    """One (sub)command: its words, options and subcommands."""

    words: list[str]
    parser: argparse.ArgumentParser
    help: str = ""
    #: option strings that take a value, and those that do not
    options_with_value: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    #: choices of options and positionals that have them (option -> values)
    choices: dict[str, list[str]] = field(default_factory=dict)
    children: list["Node"] = field(default_factory=list)
    #: the values a positional argument may take ("bash", "zsh")
    positional_choices: list[str] = field(default_factory=list)
    #: other names of this (sub)command ("mq" for "msg")
    aliases: list[str] = field(default_factory=list)


def tree(parser: argparse.ArgumentParser, words: list[str] | None = None,
         help_text: str = "") -> Node:
    node = Node(words or [], parser, help_text)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            seen: dict[int, Node] = {}
            for name, sub in action.choices.items():
                if id(sub) in seen:  # an alias: the same parser under another name
                    seen[id(sub)].aliases.append(name)
                    continue
                seen[id(sub)] = child = tree(sub, node.words + [name], helps.get(name, ""))
                node.children.append(child)
            continue
        if not action.option_strings:
            if action.choices:
                node.positional_choices += [str(c) for c in action.choices]
            continue
        takes = action.nargs != 0 and not isinstance(
            action, (argparse._StoreTrueAction, argparse._StoreFalseAction,
                     argparse._StoreConstAction, argparse._AppendConstAction,
                     argparse._HelpAction, argparse._VersionAction, argparse._CountAction))
        (node.options_with_value if takes else node.flags).extend(action.option_strings)
        if action.choices:
            for opt in action.option_strings:
                node.choices[opt] = [str(c) for c in action.choices]
    return node


def walk(node: Node) -> list[Node]:
    out = [node]
    for child in node.children:
        out += walk(child)
    return out
