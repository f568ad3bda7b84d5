#!/usr/bin/env python3
"""Folds `perf script` output into stacks and draws a flame graph as SVG.

No flame graph tool is packaged for this machine's Debian, so this is the small part of one
that the profile needs: read `perf script` (stdin), fold each sample's call chain
(root first), and write an SVG of boxes whose widths are sample counts. Frame names are
passed through `swift demangle --simplified` first by profile.sh.

usage: perf script -i perf.data | swift demangle --simplified | flamegraph.py TITLE > flame.svg
       flamegraph.py --fold < perf-script.txt > stacks.folded
"""
import html
import sys
from collections import defaultdict

WIDTH, ROW, FONT, MIN_WIDTH = 1200, 17, 11, 0.5


def fold(lines):
    stacks, frames = defaultdict(int), []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if frames:
                stacks[";".join(reversed(frames))] += 1
            frames = []
        elif line.startswith((" ", "\t")):
            parts = line.strip().split(None, 1)
            name = parts[1] if len(parts) > 1 else parts[0]
            name = name.rsplit(" (", 1)[0]  # drop the " (DSO)" suffix
            name = name.split("+0x")[0]
            frames.append(name.replace(";", ":"))
    if frames:
        stacks[";".join(reversed(frames))] += 1
    return stacks


def tree(stacks):
    root = {"name": "all", "count": 0, "children": {}}
    for stack, count in stacks.items():
        node = root
        node["count"] += count
        for frame in stack.split(";"):
            node = node["children"].setdefault(frame, {"name": frame, "count": 0, "children": {}})
            node["count"] += count
    return root


def depth(node):
    return 1 + max((depth(child) for child in node["children"].values()), default=0)


def color(name):
    h = sum(ord(c) for c in name) % 60
    return f"rgb({205 + h // 2},{90 + h * 2},{40 + h // 3})"


def draw(node, x, level, scale, height, out):
    width = node["count"] * scale
    if width < MIN_WIDTH:
        return
    y = height - (level + 1) * ROW
    label = node["name"]
    shown = label[: int(width / (FONT * 0.6))] if width > 30 else ""
    out.append(
        f'<g><title>{html.escape(label)} ({node["count"]} samples)</title>'
        f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{ROW - 1}" fill="{color(label)}" rx="2"/>'
        f'<text x="{x + 3:.1f}" y="{y + ROW - 5}">{html.escape(shown)}</text></g>'
    )
    child_x = x
    for child in sorted(node["children"].values(), key=lambda c: c["name"]):
        draw(child, child_x, level + 1, scale, height, out)
        child_x += child["count"] * scale


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--fold":
        for stack, count in sorted(fold(sys.stdin).items()):
            print(stack, count)
        return
    title = sys.argv[1] if len(sys.argv) > 1 else "flame graph"
    root = tree(fold(sys.stdin))
    if root["count"] == 0:
        sys.exit("flamegraph.py: no samples in the input")
    height = (depth(root) + 2) * ROW + 30
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'font-family="monospace" font-size="{FONT}">',
        '<rect width="100%" height="100%" fill="#fdfdf6"/>',
        f'<text x="10" y="20" font-size="14">{html.escape(title)} ({root["count"]} samples; '
        "hover a box for its name)</text>",
    ]
    draw(root, 10, 0, (WIDTH - 20) / root["count"], height, out)
    out.append("</svg>")
    print("\n".join(out))


if __name__ == "__main__":
    main()
