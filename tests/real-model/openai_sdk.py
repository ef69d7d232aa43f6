"""Drives the Ashley proxy's /v1 API with the official openai Python SDK, streamed and not.

Run by proxy/tests/real_model.rs against a proxy in front of a real llama-server:
    python3 openai_sdk.py BASE_URL PERSONA [PERSONA ...]
For each persona it asks one question without and one with streaming, checks what the SDK
parsed, and prints one JSON line per call. Any failure exits non-zero with the reason.
"""

import json
import sys

import openai


def fail(persona, what, detail):
    print(f"FAIL {persona}: {what}: {detail}", file=sys.stderr)
    sys.exit(1)


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: openai_sdk.py BASE_URL PERSONA [PERSONA ...]")
    base_url, personas = sys.argv[1], sys.argv[2:]
    # The proxy holds the real key; clients of /v1 send none that matters.
    client = openai.OpenAI(base_url=base_url, api_key="not-needed", max_retries=0, timeout=120)
    listed = [model.id for model in client.models.list()]
    if listed != personas:
        fail("-", "models.list()", f"expected the personas {personas}, got {listed}")
    for persona in personas:
        question = [{"role": "user", "content": "Say hello in one short sentence."}]
        completion = client.chat.completions.create(model=persona, messages=question)
        choice = completion.choices[0]
        if completion.object != "chat.completion" or not completion.id.startswith("chatcmpl-"):
            fail(persona, "completion envelope", completion)
        if choice.message.role != "assistant" or not (choice.message.content or "").strip():
            fail(persona, "completion message", choice.message)
        if choice.finish_reason not in ("stop", "length"):
            fail(persona, "finish_reason", choice.finish_reason)
        if completion.usage is None or completion.usage.completion_tokens < 1:
            fail(persona, "usage", completion.usage)
        print(json.dumps({"persona": persona, "stream": False, "text": choice.message.content,
                          "finish_reason": choice.finish_reason}))

        stream = client.chat.completions.create(
            model=persona, messages=question, stream=True, stream_options={"include_usage": True}
        )
        text, finish, usage, chunks = "", None, None, 0
        for chunk in stream:
            chunks += 1
            if chunk.object != "chat.completion.chunk":
                fail(persona, "chunk object", chunk)
            if chunk.usage is not None:
                usage = chunk.usage
            for streamed in chunk.choices:
                text += streamed.delta.content or ""
                finish = streamed.finish_reason or finish
        if not text.strip():
            fail(persona, "streamed text", f"empty after {chunks} chunks")
        if finish not in ("stop", "length"):
            fail(persona, "streamed finish_reason", finish)
        if usage is None or usage.completion_tokens < 1:
            fail(persona, "streamed usage", usage)
        print(json.dumps({"persona": persona, "stream": True, "text": text, "chunks": chunks,
                          "finish_reason": finish}))


if __name__ == "__main__":
    main()
