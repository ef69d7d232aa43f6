#!/usr/bin/python3
"""Reads and drives a running application through AT-SPI 2, as a screen reader does.

The window test (window.test.mjs, through lib/atspi.mjs) starts this with the system python3
(Debian's gi and gir1.2-atspi-2.0; a pyenv python cannot import gi) on the test's private session
bus, and sends one JSON request per line on stdin; each gets one JSON answer per line on stdout:

  {"op": "tree", "pid": 123}
      -> {"ok": true, "nodes": [{"path": [0, 2], "role": "push button", "name": "Send",
          "text": null, "attributes": {...}, "states": ["enabled", ...], "actions": ["click"],
          "extents": [x, y, width, height]}, ...]}   (the app's tree, depth first; [] until the
          application with that process id has registered)
  {"op": "action", "pid": 123, "path": [0, 2], "expect": {"role": ..., "name": ...},
   "action": "click"}                                 -> {"ok": true}
  {"op": "set_text", "pid": 123, "path": [...], "expect": {...}, "text": "hi"} -> {"ok": true}

A node is addressed by its path of child indexes from the application; `expect` must still match
the node found there (the tree can change between two requests), else the answer is an error.
Any failure answers {"ok": false, "error": "..."}; the process ends when stdin closes.
"""

import json
import sys

import gi

gi.require_version("Atspi", "2.0")
from gi.repository import Atspi, GLib  # noqa: E402  (after require_version, as gi wants)

# A node deeper or wider than this is not part of egui's small tree: stop rather than hang.
MAX_DEPTH = 40
MAX_NODES = 5000


def application(pid):
    """The registered application with process id `pid`, or None while it has not registered."""
    desktop = Atspi.get_desktop(0)
    Atspi.Accessible.clear_cache(desktop)
    for index in range(desktop.get_child_count()):
        app = desktop.get_child_at_index(index)
        if app is not None and app.get_process_id() == pid:
            # Fresh answers on every request: AT-SPI caches what it read before.
            Atspi.Accessible.clear_cache(app)
            return app
    return None


def optional(read):
    """`read()`, or None when the node does not answer that interface (any more): AccessKit can
    drop an interface between the listing of a node's interfaces and the call."""
    try:
        return read()
    except GLib.Error:
        return None


def text_of(node):
    text_iface = node.get_text_iface()
    if text_iface is None:
        return None
    return Atspi.Text.get_text(text_iface, 0, Atspi.Text.get_character_count(text_iface))


def actions_of(node):
    action_iface = node.get_action_iface()
    if action_iface is None:
        return []
    return [Atspi.Action.get_action_name(action_iface, i) for i in range(Atspi.Action.get_n_actions(action_iface))]


def extents_of(node):
    component = node.get_component_iface()
    if component is None:
        return None
    box = Atspi.Component.get_extents(component, Atspi.CoordType.SCREEN)
    return [box.x, box.y, box.width, box.height]


def describe(node, path):
    """What the test may look at in one node."""
    text = optional(lambda: text_of(node))
    actions = optional(lambda: actions_of(node)) or []
    extents = optional(lambda: extents_of(node))
    states = node.get_state_set()
    return {
        "path": path,
        "role": node.get_role_name(),
        "name": node.get_name() or "",
        "text": text,
        "attributes": dict(node.get_attributes() or {}),
        "states": [Atspi.StateType(s).value_nick for s in states.get_states()],
        "actions": actions,
        "extents": extents,
    }


def tree(pid):
    app = application(pid)
    if app is None:
        return []
    nodes = []
    stack = [(app.get_child_at_index(i), [i]) for i in reversed(range(app.get_child_count()))]
    while stack and len(nodes) < MAX_NODES:
        node, path = stack.pop()
        if node is None:
            continue
        nodes.append(describe(node, path))
        if len(path) < MAX_DEPTH:
            count = node.get_child_count()
            stack.extend((node.get_child_at_index(i), path + [i]) for i in reversed(range(count)))
    return nodes


def node_at(pid, path, expect):
    app = application(pid)
    if app is None:
        raise LookupError(f"no application with pid {pid} is registered on the accessibility bus")
    node = app
    for index in path:
        node = node.get_child_at_index(index) if index < node.get_child_count() else None
        if node is None:
            raise LookupError(f"no node at {path} any more")
    found = {"role": node.get_role_name(), "name": node.get_name() or ""}
    for key, value in (expect or {}).items():
        if found.get(key) != value:
            raise LookupError(f"the node at {path} is now {found}, not {expect}")
    return node


def do_action(node, wanted):
    action_iface = node.get_action_iface()
    if action_iface is None:
        raise LookupError("the node has no actions")
    names = [Atspi.Action.get_action_name(action_iface, i) for i in range(Atspi.Action.get_n_actions(action_iface))]
    if wanted not in names:
        raise LookupError(f"the node has no action {wanted!r} (it has {names})")
    if not Atspi.Action.do_action(action_iface, names.index(wanted)):
        raise RuntimeError(f"the application refused the action {wanted!r}")


def set_text(node, text):
    editable = node.get_editable_text_iface()
    if editable is None:
        raise LookupError("the node's text is not editable")
    if not Atspi.EditableText.set_text_contents(editable, text):
        raise RuntimeError("the application refused the new text")


def answer(request):
    op = request.get("op")
    pid = int(request["pid"])
    if op == "tree":
        return {"ok": True, "nodes": tree(pid)}
    node = node_at(pid, request["path"], request.get("expect"))
    if op == "action":
        do_action(node, request["action"])
    elif op == "set_text":
        set_text(node, request["text"])
    else:
        raise ValueError(f"unknown op {op!r}")
    return {"ok": True}


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = answer(json.loads(line))
        except Exception as error:  # every failure goes back to the test, which reports it
            reply = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
