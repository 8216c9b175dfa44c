# A Kattis-protocol interactive validator: `validator input answer feedback_dir`, exit 42 accepted, 43 wrong answer,
# its message in feedback_dir/judgemessage.txt. The input holds the secret.
import sys

input_file, answer_file, feedback_dir = sys.argv[1], sys.argv[2], sys.argv[3]
secret = int(open(input_file).read().split()[0])


def verdict(accepted, message):
    with open(feedback_dir + "judgemessage.txt", "w") as f:
        f.write(message + "\n")
    sys.exit(42 if accepted else 43)


for queries in range(64):
    line = sys.stdin.readline()
    if not line:
        verdict(False, "unexpected end of output after %d queries" % queries)
    parts = line.split()
    if len(parts) != 2 or parts[0] not in ("?", "!") or not parts[1].lstrip("-").isdigit():
        verdict(False, "bad line %r" % line[:40])
    guess = int(parts[1])
    if parts[0] == "!":
        verdict(guess == secret, "found %d" % secret if guess == secret else "%d is not the secret" % guess)
    print(">" if secret > guess else "<" if secret < guess else "=", flush=True)
verdict(False, "too many queries")
