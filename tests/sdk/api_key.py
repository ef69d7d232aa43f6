"""One /v1 call with the official openai Python SDK and a personal API key.

Run by proxy/tests/sign_in.rs:
    python3 api_key.py BASE_URL KEY works|refused
`works`: a chat completion must come back (its text is printed). `refused`: the SDK must raise
AuthenticationError with OpenAI's `invalid_api_key` code. Anything else exits non-zero.
"""

import sys

import openai


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in ("works", "refused"):
        sys.exit("usage: api_key.py BASE_URL KEY works|refused")
    base_url, key, expect = sys.argv[1:]
    client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=30)
    question = [{"role": "user", "content": "Say hello."}]
    try:
        completion = client.chat.completions.create(model="ashley", messages=question)
    except openai.AuthenticationError as refusal:
        if expect == "refused" and refusal.status_code == 401 and refusal.code == "invalid_api_key":
            print("refused: invalid_api_key")
            return
        sys.exit(f"unexpected refusal ({expect} expected): {refusal.status_code} {refusal.code}")
    if expect == "refused":
        sys.exit(f"the revoked key still works: {completion}")
    text = completion.choices[0].message.content or ""
    if not text.strip():
        sys.exit(f"an empty completion: {completion}")
    print(text)


if __name__ == "__main__":
    main()
