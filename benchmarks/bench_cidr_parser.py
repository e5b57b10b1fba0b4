"""Request network parsing: the runtime's hand-written parser next to ``ipaddress``.

Run: ``.venv/bin/python benchmarks/bench_cidr_parser.py [--number 20000] [--repeat 7]``

Each input of a fixed mixed list (IPv4 hosts and /24s, IPv6 hosts and networks,
IPv4-mapped addresses, invalid inputs) is parsed ``--number`` times per sample, by
``dualgate.runtime.networks.parse_network`` and by ``ipaddress.ip_network(text,
strict=True)`` (exceptions caught, as a caller must); the table reports the median
sample in ns per call and the ipaddress/runtime ratio. Both parsers are first checked
to accept the same inputs. Timings belong here, not in unit tests.
"""

from __future__ import annotations

import argparse
import ipaddress
import statistics
import timeit
from collections.abc import Callable

from dualgate.runtime.networks import parse_network

INPUTS = (
    "10.1.2.3",
    "192.168.10.77",
    "10.1.2.0/24",
    "172.16.0.0/12",
    "2001:db8::1",
    "2001:db8:85a3:0:0:8a2e:370:7334",
    "2001:db8::/32",
    "::ffff:10.1.2.3",
    "::ffff:10.1.2.0/120",
    "10.1.2.3/24",  # host bits set
    "010.1.2.3",  # leading zero
    "10.0.0.0/255.0.0.0",  # netmask form
    "fe80::1%eth0",  # scope id
    "not-an-address",
)


def _with_ipaddress(text: str) -> object:
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError:
        return None


def ns_per_call(parse: Callable[[str], object], text: str, number: int, repeat: int) -> float:
    """The median over ``repeat`` samples of ``number`` calls, in ns per call."""
    # A statement string, not a lambda: the call itself is all that is timed.
    samples = timeit.repeat(
        "parse(text)", globals={"parse": parse, "text": text}, number=number, repeat=repeat
    )
    return statistics.median(samples) / number * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    print("| input | valid | runtime | ipaddress | ipaddress/runtime |")
    print("|:------|:-----:|--------:|----------:|------------------:|")
    for text in INPUTS:
        valid = parse_network(text) is not None
        # ipaddress accepts netmasks and scope ids, which dualgate does not: compare
        # validity only where the syntaxes agree.
        if "%" not in text and "/255." not in text:
            assert valid == (_with_ipaddress(text) is not None), text
        runtime_ns = ns_per_call(parse_network, text, args.number, args.repeat)
        reference_ns = ns_per_call(_with_ipaddress, text, args.number, args.repeat)
        print(
            f"| `{text}` | {'yes' if valid else 'no'} | {runtime_ns:,.0f} ns "
            f"| {reference_ns:,.0f} ns | {reference_ns / runtime_ns:.1f}x |"
        )


if __name__ == "__main__":
    main()
