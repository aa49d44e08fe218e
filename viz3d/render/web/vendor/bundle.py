"""Turn three.js's ES module build and its OrbitControls into one classic script.

A page opened from ``file://`` (or inside a Jupyter ``srcdoc`` iframe) cannot import modules
by URL, so the module's closing ``export{...}`` becomes a ``THREE`` namespace object and
OrbitControls' ``import {...} from 'three'`` reads from it. Everything runs in one function
scope; the result defines ``window.THREE`` (three.js plus ``OrbitControls``).

Usage: ``python bundle.py three.module.min.js OrbitControls.js VERSION > three.bundle.js``
"""

import re
import sys


def namespace(three: str) -> str:
    """The module text with its final export list replaced by ``const THREE = {...}``."""
    match = re.search(r"export\s*\{([^}]*)\};?\s*$", three)
    if match is None:
        sys.exit("bundle.py: no final export list in the three.js module build")
    pairs = []
    for item in match.group(1).split(","):
        local, _, exported = (part.strip() for part in item.partition(" as "))
        pairs.append(f"{exported or local}:{local}")
    return three[: match.start()] + "const THREE={" + ",".join(pairs) + "};\n"


def controls(source: str) -> str:
    """OrbitControls as an expression, its imports read from ``THREE``."""
    match = re.search(r"import\s*\{([^}]*)\}\s*from\s*['\"]three['\"];?", source)
    if match is None or "export { OrbitControls };" not in source:
        sys.exit("bundle.py: OrbitControls.js does not look like three's example module")
    names = ",".join(n.strip() for n in match.group(1).split(",") if n.strip())
    body = source[match.end() :].replace("export { OrbitControls };", "")
    return f"(function(){{const {{{names}}}=THREE;\n{body}\nreturn OrbitControls;}})()"


def main() -> None:
    three_path, controls_path, version = sys.argv[1:4]
    with open(three_path, encoding="utf-8") as fh:
        three = fh.read()
    with open(controls_path, encoding="utf-8") as fh:
        orbit = fh.read()
    text = (
        f"/* three.js {version} (MIT licence, see LICENSE.three) with OrbitControls, bundled */\n"
        '(function(){"use strict";\n'
        + namespace(three)
        + f"const OrbitControls={controls(orbit)};\n"
        + "window.THREE=Object.freeze(Object.assign({OrbitControls:OrbitControls},THREE));\n"
        + "})();\n"
    )
    # the bundle is inlined into a <script> element: nothing in it may end or comment it out
    if re.search(r"</script|<!--", text, re.I):
        sys.exit("bundle.py: the bundle contains '</script' or '<!--'; it cannot be inlined")
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
