#!/usr/bin/env bash
# scripts/emoji-font.sh: rebuilds the subset fonts the app compiles in:
#  - assets/emoji/NotoEmoji-Supplement.ttf: the emoji egui's own fonts lack (🤖 🧠 🙂 🤔 🥳 🧩 ...,
#    Unicode 8 and later), for the native app;
#  - assets/embedded-fonts/ui-noto-emoji.ttf and ui-emoji-icons.ttf: only the symbols the UI itself
#    draws (every non-ASCII char in src/, plus egui's own 🗐 ✔), cut from egui's NotoEmoji-Regular
#    and emoji-icon-font, so the web app's first frame has its icons without fetching those fonts.
#
#   scripts/emoji-font.sh          rebuild the font (the result is committed; builds never run this)
#   scripts/emoji-font.sh --check  rebuild into a temporary file and fail if it differs
#
# Source: Noto Emoji (monochrome, SIL OFL 1.1) as npm `@fontsource/noto-emoji` (pinned), whose
# weight-400 .woff files split the font by Unicode range. fontTools (PyPI, pinned; installed by
# `scripts/setup.sh fonts`) keeps the emoji blocks' code points that egui's bundled fonts
# (assets/fonts: NotoEmoji-Regular, emoji-icon-font, Hack; assets/embedded-fonts: Ubuntu-Light) do
# not have, and merges the pieces into one TrueType font. Same inputs, same bytes.
# The web app does not need it: eframe draws glyphs its fonts lack with the browser's own fonts.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NOTO_EMOJI_NPM=@fontsource/noto-emoji@5.3.2
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/assets/emoji/NotoEmoji-Supplement.ttf
UI_FONTS=$ROOT/assets/embedded-fonts

"$ROOT/scripts/setup.sh" fonts

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
step "fetching $NOTO_EMOJI_NPM from npm"
(cd "$work" && npm pack --silent "$NOTO_EMOJI_NPM" >/dev/null && tar xzf ./*.tgz)

target=$OUT ui_target=$UI_FONTS
if [ "${1:-}" = --check ]; then target=$work/NotoEmoji-Supplement.ttf ui_target=$work; fi
step "subsetting the emoji egui's fonts lack into $target, the UI's symbols into $ui_target"
PYTHONPATH="$TOOLS_DIR/python${PYTHONPATH:+:$PYTHONPATH}" python3 - "$work/package/files" "$ROOT" "$target" "$ui_target" <<'PY'
import glob
import os
import sys

from fontTools import subset
from fontTools.merge import Merger
from fontTools.ttLib import TTFont

files, root, out, ui_out = sys.argv[1:5]
# The blocks emoji (and the arrows and symbols models write) come from.
BLOCKS = [
    (0x2190, 0x21FF), (0x2600, 0x27BF), (0x2B00, 0x2BFF), (0x1F300, 0x1F5FF),
    (0x1F600, 0x1F64F), (0x1F680, 0x1F6FF), (0x1F900, 0x1F9FF), (0x1FA70, 0x1FAFF),
]
BUNDLED = [
    "assets/fonts/NotoEmoji-Regular.ttf", "assets/fonts/emoji-icon-font.ttf",
    "assets/fonts/Hack-Regular.ttf", "assets/embedded-fonts/Ubuntu-Light.ttf",
]
have = set()
for path in BUNDLED:
    have |= set(TTFont(f"{root}/{path}").getBestCmap())
wanted = {c for first, last in BLOCKS for c in range(first, last + 1)} - have

pieces = []
for index, path in enumerate(sorted(glob.glob(f"{files}/noto-emoji-*-400-normal.woff"))):
    font = TTFont(path, recalcTimestamp=False)
    codepoints = sorted(wanted & set(font.getBestCmap()))
    if not codepoints:
        continue
    options = subset.Options()
    options.layout_features = []  # single code points: no ZWJ or skin-tone ligatures
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]
    options.notdef_outline = True
    options.recalc_timestamp = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=codepoints)
    subsetter.subset(font)
    font.flavor = None
    piece = f"{out}.piece{index}.ttf"
    font.save(piece)
    pieces.append(piece)

merged = Merger().merge(pieces)
# Fixed timestamps: the same inputs must give the same bytes.
merged.recalcTimestamp = False
merged["head"].created = merged["head"].modified = 0
merged.save(out)
for piece in pieces:
    os.remove(piece)
print(f"{len(wanted & set(merged.getBestCmap()))} emoji, {os.path.getsize(out)} bytes")

# The UI's own symbols: what Ubuntu-Light lacks, from the font egui would take it from.
ui_chars = {"\U0001F5D0", "\u2714"}  # egui_commonmark's code-block copy button: 🗐 and ✔
for path in sorted(glob.glob(f"{root}/src/**/*.rs", recursive=True)):
    with open(path, encoding="utf-8") as source:
        for line in source:
            code = line.split("//")[0]  # what the code draws, not what comments mention
            ui_chars |= {c for c in code if ord(c) > 0x7F}
ubuntu = set(TTFont(f"{root}/assets/embedded-fonts/Ubuntu-Light.ttf").getBestCmap())
needed = {ord(c) for c in ui_chars} - ubuntu
for name, source_path in [
    ("ui-noto-emoji.ttf", "assets/fonts/NotoEmoji-Regular.ttf"),
    ("ui-emoji-icons.ttf", "assets/fonts/emoji-icon-font.ttf"),
]:
    font = TTFont(f"{root}/{source_path}", recalcTimestamp=False)
    codepoints = sorted(needed & set(font.getBestCmap()))
    needed -= set(codepoints)
    options = subset.Options()
    options.layout_features = []
    options.hinting = False
    options.desubroutinize = True
    options.recalc_timestamp = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=codepoints)
    subsetter.subset(font)
    font["head"].modified = font["head"].created
    font.save(f"{ui_out}/{name}")
    print(f"{name}: {len(codepoints)} symbols, {os.path.getsize(f'{ui_out}/{name}')} bytes")
print("UI symbols no font has:", "".join(sorted(chr(c) for c in needed)) or "none")
PY

if [ "${1:-}" = --check ]; then
    for built in "$target" "$work/ui-noto-emoji.ttf" "$work/ui-emoji-icons.ttf"; do
        committed=$OUT
        [ "$built" = "$target" ] || committed=$UI_FONTS/$(basename "$built")
        cmp -s "$built" "$committed" || die "$committed is not what scripts/emoji-font.sh builds; run it"
    done
    step "the subset fonts are up to date"
fi
