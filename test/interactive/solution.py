import sys

lo, hi = 1, 1000
while lo <= hi:
    mid = (lo + hi) // 2
    print("?", mid, flush=True)
    reply = sys.stdin.readline().strip()
    if reply == "=":
        print("!", mid, flush=True)
        break
    if reply == ">":
        lo = mid + 1
    else:
        hi = mid - 1
