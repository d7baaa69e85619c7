"""`python -m toolchain cache show|clean`: what the tool and stage caches hold, and removing it."""

from __future__ import annotations

import argparse
import json

from toolchain.core import cache, cache_areas


def cmd_cache_show(args: argparse.Namespace) -> int:
    inventory = cache_areas.inventory()
    if args.json:
        print(json.dumps(inventory.to_json(), indent=2))
    else:
        print(cache_areas.format_inventory(inventory), flush=True)
    return 0


def cmd_cache_clean(args: argparse.Namespace) -> int:
    groups = {group for group in cache_areas.GROUPS if getattr(args, group)}
    if not groups and not args.all:
        args.parser.error("say what to clean: --tools, --stages, --targets or --all")
    if args.older_than is not None and args.older_than < 0:
        args.parser.error("--older-than takes a number of days, 0 or more")
    root = cache.cache_root()
    result = cache_areas.clean(groups, every=args.all, older_than_days=args.older_than, dry_run=args.dry_run, root=root)
    print(cache_areas.format_cleaned(result, str(root)), flush=True)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "cache",
        help="show (default) or clean the tool cache, the stage store and the "
        "cargo target directories under WASM_TOOLCHAIN_CACHE",
        description="The cache root is $WASM_TOOLCHAIN_CACHE, else ~/.cache/wasm-qe-toolchain. "
        "`cache clean` removes whole entries of the areas asked for, never a path "
        "outside the root, and refuses a root that holds anything the toolchain "
        "does not write. Do not clean while a build uses the cache.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output (show)")
    p.set_defaults(func=cmd_cache_show)
    actions = p.add_subparsers(dest="action", required=False)
    show = actions.add_parser("show", help="each area with its entries, sizes, file counts and last use")
    show.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
    show.set_defaults(func=cmd_cache_show)
    clean = actions.add_parser("clean", help="remove entries; whatever is removed is made again when next needed")
    clean.add_argument("--tools", action="store_true", help="provisioned tools and built toolchain wheels (tools/)")
    clean.add_argument("--stages", action="store_true", help="the shared stage store (stages/)")
    clean.add_argument(
        "--targets",
        action="store_true",
        help="build directories: cargo target directories, the cargo install target, the "
        "toolchain wheels' build directories",
    )
    clean.add_argument("--all", action="store_true", help="every area, the downloaded .crate files too")
    clean.add_argument("--older-than", type=float, metavar="DAYS", help="only entries not used for this many days")
    clean.add_argument("--dry-run", action="store_true", help="print what would be removed; remove nothing")
    clean.set_defaults(func=cmd_cache_clean, parser=clean)
