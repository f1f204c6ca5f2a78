#!/usr/bin/env python3
"""chat_golden.py - render test conversations with the real chat templates through jinja2.

Every tests/data/chat/*.jinja (template texts as shipped in the models' tokenizer
configs / GGUF files) is rendered with jinja2 configured as Hugging Face transformers
renders chat templates (sandboxed, trim_blocks, lstrip_blocks, raise_exception), for each
conversation in CASES. The results go to tests/data/chat/golden.json, which
tests/unit/runtime/test_chat.c compares with mb_chat_render(); a case where the template
raises is recorded as {"error": message}.

tests/integration/t2031-tokenize-chat.py does the same comparison live (through
`modularbase tokenize --render`), so this file only needs regenerating when CASES or the
templates change:

    scripts/reference/chat_golden.py
"""
import glob
import json
import os
import sys

from jinja2.sandbox import ImmutableSandboxedEnvironment

CASES = [
    {"messages": [{"role": "user", "content": "Hello"}], "add_generation_prompt": True},
    {"messages": [{"role": "system", "content": "You are terse."},
                  {"role": "user", "content": "Hi"}], "add_generation_prompt": True},
    {"messages": [{"role": "user", "content": " padded \n"},
                  {"role": "assistant", "content": "\tAnswer \u3000"},
                  {"role": "user", "content": "next"}], "add_generation_prompt": False},
    {"messages": [{"role": "system", "content": " S "}, {"role": "user", "content": "a"},
                  {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"},
                  {"role": "assistant", "content": "d"}], "add_generation_prompt": False},
    {"messages": [{"role": "user", "content": ""}], "add_generation_prompt": True},
    {"messages": [{"role": "user", "content": "\u65e5\u672c\u8a9e \U0001F600 caf\u00e9"},
                  {"role": "assistant", "content": "ok\n\n"}], "add_generation_prompt": True},
    {"messages": [{"role": "user", "content": "x"}, {"role": "user", "content": "y"}],
     "add_generation_prompt": True},
    {"messages": [{"role": "assistant", "content": "first"}], "add_generation_prompt": False},
    {"messages": [], "add_generation_prompt": True},
    {"messages": [{"role": "system", "content": "only a system prompt"}],
     "add_generation_prompt": True},
    {"messages": [{"role": "user", "content": "<|im_start|>literal special text<|im_end|>"}],
     "add_generation_prompt": True},
    {"messages": [{"role": "user", "content": "\u00a0\u2003nbsp and em space\u2003\u00a0"}],
     "add_generation_prompt": True},
]

BOS = {"smollm2": "<|im_start|>", "chatml": "<s>", "llama3": "<|begin_of_text|>",
       "llama3.2": "<|begin_of_text|>", "llama2": "<s>", "mistral-v0.1": "<s>",
       "mistral-v0.2": "<s>", "gemma": "<bos>"}
EOS = {"smollm2": "<|im_end|>", "chatml": "</s>", "llama3": "<|eot_id|>",
       "llama3.2": "<|eot_id|>", "llama2": "</s>", "mistral-v0.1": "</s>",
       "mistral-v0.2": "</s>", "gemma": "<eos>"}
DATE = "02 Jan 2025"


def environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)

    def raise_exception(message):
        raise ValueError(message)

    env.globals["raise_exception"] = raise_exception
    return env


def render(env, text, name, case):
    template = env.from_string(text)
    try:
        return {"text": template.render(messages=case["messages"],
                                        add_generation_prompt=case["add_generation_prompt"],
                                        bos_token=BOS[name], eos_token=EOS[name],
                                        date_string=DATE)}
    except Exception as e:  # the template refused the conversation
        return {"error": f"{type(e).__name__}: {e}"}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    data = os.path.join(os.path.dirname(os.path.dirname(here)), "tests/data/chat")
    env = environment()
    out = {"date_string": DATE, "cases": CASES, "templates": {}}
    for path in sorted(glob.glob(os.path.join(data, "*.jinja"))):
        name = os.path.basename(path)[:-len(".jinja")]
        with open(path, encoding="utf-8") as f:
            text = f.read()
        out["templates"][name] = {
            "bos_token": BOS[name], "eos_token": EOS[name],
            "results": [render(env, text, name, c) for c in CASES],
        }
    with open(os.path.join(data, "golden.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{len(out['templates'])} templates x {len(CASES)} cases", file=sys.stderr)


if __name__ == "__main__":
    main()
