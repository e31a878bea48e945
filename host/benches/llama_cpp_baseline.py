"""llama.cpp on the same GGUF, for `cargo xtask bench local` and the
reference fixture of the correctness test. Bench-only: needs the pip
package llama-cpp-python (0.3.x), never needed at run time.

  llama_cpp_baseline.py reference --model GGUF --prompts host/benches/reference_prompts.json \
      > tests/fixtures/llama_cpp_reference.json
  llama_cpp_baseline.py bench --model GGUF --prompt-file F --schema S --runs N   (one JSON line)
"""
import argparse
import json
import resource
import statistics
import sys
import time

import numpy as np
from llama_cpp import Llama, LlamaGrammar

# Greedy tokens recorded after each reference prompt (the prompts, in
# host/benches/reference_prompts.json, are contract language, facts, lists
# and code, in English and Spanish).
GREEDY_STEPS = 32


def load(model, threads, n_ctx):
    started = time.perf_counter()
    llm = Llama(model_path=model, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                n_batch=512, verbose=False)
    return llm, time.perf_counter() - started


def last_logits(llm):
    """The logits of the last evaluated position, straight from llama.cpp."""
    return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).copy()


def greedy_run(llm, tokens):
    """The logits after `tokens`, then GREEDY_STEPS greedy tokens and the
    margin of each choice over the runner-up."""
    llm.reset()
    llm.eval(tokens)
    greedy, margins, first = [], [], None
    for _ in range(GREEDY_STEPS):
        step = last_logits(llm)
        if first is None:
            first = step
        best, second = np.argsort(-step)[:2]
        greedy.append(int(best))
        margins.append(round(float(step[best] - step[second]), 4))
        llm.eval([int(best)])
    return first, greedy, margins


def reference(args):
    with open(args.prompts) as f:
        prompts = json.load(f)
    llm, _ = load(args.model, args.threads, 512)
    # The same model with an f32 KV cache (llama.cpp's default is f16): how
    # far llama.cpp's own answers move with its cache precision alone.
    f32 = Llama(model_path=args.model, n_ctx=512, n_threads=args.threads,
                n_threads_batch=args.threads, n_batch=512, type_k=0, type_v=0, verbose=False)
    references = []
    for prompt in prompts:
        tokens = llm.tokenize(prompt.encode(), add_bos=True, special=False)
        logits, greedy, margins = greedy_run(llm, tokens)
        logits_f32, greedy_f32, _ = greedy_run(f32, tokens)
        top = np.argsort(-logits)[:5]
        references.append({
            "prompt": prompt,
            "prompt_tokens": tokens,
            "top5": [[int(t), round(float(logits[t]), 4)] for t in top],
            "greedy": greedy,
            "greedy_margins": margins,
            "top5_spread_f16_vs_f32_kv": round(float(np.max(np.abs(logits_f32[top] - logits[top]))), 4),
            "greedy_same_with_f32_kv": greedy == greedy_f32,
            "greedy_text": llm.detokenize(greedy).decode(errors="replace"),
        })
    json.dump({
        "command": "python host/benches/llama_cpp_baseline.py reference --model gemma-3-270m-q4_k_m.gguf "
                   "--prompts host/benches/reference_prompts.json "
                   f"(llama-cpp-python {__import__('llama_cpp').__version__}, {args.threads} threads)",
        "references": references,
    }, sys.stdout, indent=1)
    print()


def bench(args):
    load_times = []
    for _ in range(3):
        llm, took = load(args.model, args.threads, 4096)
        load_times.append(took)
        del llm
    llm, took = load(args.model, args.threads, 4096)
    load_times.append(took)
    text = open(args.prompt_file, encoding="utf-8").read()
    tokens = llm.tokenize(text.encode(), add_bos=True, special=False)[: args.prompt_tokens]

    prefill, decode = [], []
    for _ in range(args.runs):
        llm.reset()
        started = time.perf_counter()
        llm.eval(tokens)
        prefill.append(len(tokens) / (time.perf_counter() - started))
        started = time.perf_counter()
        for _ in range(args.decode_tokens):
            llm.eval([int(np.argmax(last_logits(llm)))])
        decode.append(args.decode_tokens / (time.perf_counter() - started))

    schema = generation_schema(json.load(open(args.schema, encoding="utf-8")))
    grammar = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
    prompt = open(args.constrained_prompt_file, encoding="utf-8").read()
    constrained = []
    llm.reset()
    llm.create_completion(prompt, max_tokens=1, temperature=0.0)  # prefill, cached below
    for _ in range(args.runs):
        started = time.perf_counter()
        out = llm.create_completion(prompt, max_tokens=args.constrained_tokens, temperature=0.0,
                                    grammar=grammar)
        elapsed = time.perf_counter() - started
        constrained.append(out["usage"]["completion_tokens"] / elapsed)
    print(json.dumps({
        "engine": "llama.cpp (llama-cpp-python %s)" % __import__("llama_cpp").__version__,
        "load_s": statistics.median(load_times),
        "prefill_tok_s": statistics.median(prefill),
        "decode_tok_s": statistics.median(decode),
        "constrained_tok_s": statistics.median(constrained),
        "constrained_text": out["choices"][0]["text"],
        "prompt_tokens": len(tokens),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


def generation_schema(node):
    """The schema the model is held to: without the properties the host
    computes and without sluice's own x-sluice-* annotations."""
    if isinstance(node, list):
        return [generation_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: v for k, v in node.items() if not k.startswith("x-sluice-")}
    props = node.get("properties")
    if isinstance(props, dict):
        computed = [k for k, v in props.items() if isinstance(v, dict) and "x-sluice-computed" in v]
        node["properties"] = {k: v for k, v in props.items() if k not in computed}
        if "required" in node:
            node["required"] = [r for r in node["required"] if r not in computed]
    return {k: generation_schema(v) for k, v in node.items()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["reference", "bench"])
    parser.add_argument("--model", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompts", default="host/benches/reference_prompts.json")
    parser.add_argument("--prompt-file")
    parser.add_argument("--prompt-tokens", type=int, default=512)
    parser.add_argument("--decode-tokens", type=int, default=64)
    parser.add_argument("--schema")
    parser.add_argument("--constrained-prompt-file")
    parser.add_argument("--constrained-tokens", type=int, default=400)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    (reference if args.mode == "reference" else bench)(args)


if __name__ == "__main__":
    main()
