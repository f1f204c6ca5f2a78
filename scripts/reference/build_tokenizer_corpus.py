#!/usr/bin/env python3
"""build_tokenizer_corpus.py - build the tokenizer test corpus from real text on this machine.

The corpus is a JSON list of strings (tests/data/tokenizer/corpus.json). Most entries are
real lines taken from files every Debian machine with Python has:

  * Python standard library sources (code, comments, docstrings, indentation),
  * man pages in roff source, in English and in the translated trees
    (/usr/share/man/{de,fr,ru,ja,ko,pl,...}) for real non-Latin prose,
  * /usr/share/doc READMEs, changelogs and copyright files,

plus multi-line chunks (several consecutive lines joined by newlines) and hand-written lines
that stress what real files rarely contain: many scripts (CJK, Cyrillic, Arabic, Devanagari,
Thai, Hebrew, Greek), emoji sequences, combining marks, whitespace runs, tabs, CR/LF mixes,
digits and numbers, contractions, and special-token text such as <|im_start|>.

The selection is deterministic for a given machine (sorted file lists, fixed random seed),
but the committed corpus.json is what tests use; rerunning on another machine gives a
different, equally valid corpus (then regenerate the goldens, see docs/tokenizer.md).

usage: build_tokenizer_corpus.py [--out tests/data/tokenizer/corpus.json] [--seed N]
"""
import argparse
import glob
import gzip
import json
import os
import random
import sys

MAX_LINE = 400  # bytes: keeps the corpus (and the golden ids) small


def read_text(path):
    """The text of a plain or gzip-compressed file, or None when unreadable or binary."""
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                data = f.read(200_000)
        else:
            with open(path, "rb") as f:
                data = f.read(200_000)
    except OSError:
        return None
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def pick_lines(rng, paths, n_files, per_file, chunk_every=5):
    """Up to per_file lines from n_files files; every chunk_every-th pick is a multi-line chunk."""
    out = []
    paths = sorted(paths)
    rng.shuffle(paths)
    used = 0
    for path in paths:
        if used >= n_files:
            break
        text = read_text(path)
        if not text:
            continue
        lines = text.split("\n")
        if len(lines) < 3:
            continue
        used += 1
        for k in range(per_file):
            i = rng.randrange(len(lines))
            if k % chunk_every == chunk_every - 1:
                j = min(len(lines), i + rng.randint(2, 6))
                s = "\n".join(lines[i:j])
            else:
                s = lines[i]
            if not s.strip() and rng.random() < 0.7:
                continue  # keep a few blank/whitespace-only entries, not many
            s = s.encode("utf-8")[:MAX_LINE].decode("utf-8", "ignore")
            out.append(s)
    return out


HAND_WRITTEN = [
    # scripts
    "日本語のテキストを正しく分割できますか？",
    "中文分词测试：我们今天去公园散步，天气很好。",
    "한국어 문장도 토큰화해야 합니다. 안녕하세요!",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "Привет, мир! Это тест токенизатора — с тире и «кавычками».",
    "مرحبا بالعالم، هذا اختبار للمُرَمِّز بالعربية.",
    "नमस्ते दुनिया, यह टोकनाइज़र का परीक्षण है।",
    "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ",
    "שלום עולם, זהו מבחן.",
    "Γειά σου Κόσμε! Ελληνικά γράμματα: αβγδε ΑΒΓΔΕ.",
    "Ἐν ἀρχῇ ἦν ὁ λόγος",
    "Ünïcödé àccénts: café, naïve, façade, Øresund, Ångström, Straße",
    "Tiếng Việt có dấu: Xin chào thế giới",
    "ქართული ენა · Հայերեն · አማርኛ · ᏣᎳᎩ",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙 𝒶𝓁𝓅𝒽𝒶𝒷ℯ𝓉 and 𐍈 Gothic",
    # emoji and sequences
    "😀👍🏽🎉 emoji in text 🚀🔥",
    "Family: 👨‍👩‍👧‍👦 flags: 🇫🇷🇯🇵🇺🇸 keycap: 1️⃣ #️⃣",
    "🏳️‍🌈 🧑🏿‍💻 🫠 🫶🏻 ❤️‍🔥",
    # combining marks
    "e\u0301 vs \u00e9, a\u0308 vs \u00e4, n\u0303 vs \u00f1",
    "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034dalgo text",
    "\u0915\u094d\u0937 \u0924\u094d\u0930 \u091c\u094d\u091e",
    # whitespace
    "    four leading spaces",
    "trailing spaces    ",
    "\ttab\tseparated\tvalues\t",
    "mixed \t \t whitespace   runs\t\t\tend",
    "line one\nline two\n\nline four after a blank",
    "windows\r\nline endings\r\n",
    "carriage\rreturn only",
    "\n\n\n",
    "   ",
    "\u00a0non-breaking\u00a0spaces\u2003em\u2003space\u3000ideographic",
    "zero\u200bwidth\u200cjoiners\u200d and \ufeffBOM",
    "a                                                                b",
    # digits and numbers
    "1234567890",
    "3.14159265358979 and 2.718281828",
    "Phone: +1 (555) 123-4567, ZIP 90210-1234",
    "Year 2024, version 1.2.3-beta.4+build.567",
    "١٢٣٤٥ ٦٧٨٩٠ Arabic-Indic digits",
    "full-width １２３４５ and superscripts ² ³ ½ ⅓ Ⅻ",
    "0x1F600 0b1010 0o777 1e-10 -42 +7",
    "12,345,678.90 €  ¥1000  £5  $3.50",
    # contractions and punctuation
    "I'm sure you'll see it's what we'd've done, isn't it?",
    "DON'T SHOUT, I'LL HEAR YOU'RE THERE",
    "rock 'n' roll, 'quoted', \"double\", `backticks`",
    "Wait... what?! Really?!?! ¿Qué? ¡Sí!",
    "—em dash— –en dash– ‘curly’ “quotes” «guillemets» ‹single›",
    "email@example.com https://example.org/path?q=1&r=2#frag",
    "C:\\Windows\\System32\\drivers\\etc\\hosts",
    # code
    "int main(void) { return printf(\"%d\\n\", 42) < 0; }",
    "def f(x: int) -> list[str]:\n    return [str(i) for i in range(x)]",
    "const x = {a: 1, 'b': [true, null], \"c\": 3.5e-2};",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
    "<html><body class=\"main\"><p>Hello &amp; welcome</p></body></html>",
    "x += y ** 2 // 3 % 4 if a != b else c <<= 1",
    "#!/usr/bin/env bash\nset -euo pipefail\necho \"${HOME:-/root}\" | tr a-z A-Z",
    # special-token text
    "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>",
    "text before<|im_end|>text after",
    "<|im_start|><|im_start|><|im_end|>",
    "<|im_start",
    "im_start|> <| im_end |>",
    "<repo_name>modularbase<file_sep>main.c<filename>x.py<gh_stars>100",
    "<issue_start>bug<issue_comment>fixed<issue_closed>",
    "<jupyter_start><jupyter_code>print(1)<jupyter_output>1<empty_output>",
    "<s>[INST] llama2 style [/INST]</s>",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
    "  <|im_start|>  spaced  <|im_end|>  ",
    # odd
    "",
    " ",
    "a",
    "\u2581already\u2581has\u2581sentencepiece\u2581spaces",
    "ĠGĠpreĠencodedĠtextĠĊ",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "!!!!!!!!????????........,,,,,,,;;;;;;::::::",
    "\x01\x02\x03 control \x7f chars \x1b[31mred\x1b[0m",
    "tab-\u0009-vt-\u000b-ff-\u000c-nel-\u0085-end",
    "\u2028line separator\u2029paragraph separator",
    "math: ∀x∈ℝ, ∃y: x² + y² ≤ 1 ⇒ √(x²+y²) ≠ ∞",
    "box drawing: ┌─┬─┐ │ │ │ └─┴─┘ ░▒▓█",
    "private use \ue000\uf8ff and replacement \ufffd",
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    ap.add_argument("--out", default=os.path.join(root, "tests/data/tokenizer/corpus.json"))
    ap.add_argument("--seed", type=int, default=20241123)
    args = ap.parse_args()
    rng = random.Random(args.seed)

    pyroot = "/usr/lib/python3.11" if os.path.isdir("/usr/lib/python3.11") else os.path.dirname(os.__file__)
    py = glob.glob(os.path.join(pyroot, "*.py")) + glob.glob(os.path.join(pyroot, "*/*.py"))
    man_en = glob.glob("/usr/share/man/man[1-8]/*.gz")
    man_l10n = [p for p in glob.glob("/usr/share/man/*/man[1-8]/*.gz")
                if not p.startswith("/usr/share/man/man")]
    docs = [p for p in glob.glob("/usr/share/doc/*/*")
            if os.path.basename(p).split(".")[0] in ("README", "changelog", "copyright", "NEWS",
                                                     "TODO", "AUTHORS", "THANKS", "FAQ")]

    corpus = []
    corpus += pick_lines(rng, py, 80, 12)
    corpus += pick_lines(rng, man_en, 60, 8)
    # translated man pages: group by language so every language gets some lines
    by_lang = {}
    for p in man_l10n:
        by_lang.setdefault(p.split("/")[4], []).append(p)
    for lang in sorted(by_lang):
        corpus += pick_lines(rng, by_lang[lang], 8, 6)
    corpus += pick_lines(rng, docs, 60, 6)
    corpus += HAND_WRITTEN

    # de-duplicate, keep order
    seen = set()
    uniq = []
    for s in corpus:
        if s not in seen:
            seen.add(s)
            uniq.append(s)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(uniq, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print(f"{len(uniq)} entries, {sum(len(s.encode()) for s in uniq)} bytes -> {args.out}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
