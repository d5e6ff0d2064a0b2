"""`python -m clara_tlt.synthetic OUT [--train N] [--val N] [--dicom]`: write the example dataset."""

from __future__ import annotations

import argparse

from clara_tlt.synthetic.dataset import write_dataset


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m clara_tlt.synthetic", description=__doc__)
    parser.add_argument("out", help="Output folder (datalist.json, imagesTr/, labelsTr/, dicom/).")
    parser.add_argument("--train", type=int, default=4, help="Training cases (default 4).")
    parser.add_argument("--val", type=int, default=2, help="Validation cases (default 2).")
    parser.add_argument("--shape", type=int, nargs=3, default=[48, 48, 24], metavar=("X", "Y", "Z"))
    parser.add_argument("--spacing", type=float, nargs=3, default=[1.5, 1.5, 3.0], metavar=("SX", "SY", "SZ"))
    parser.add_argument("--dicom", action="store_true", help="Also write each image as a DICOM CT series.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    path = write_dataset(
        args.out,
        num_training=args.train,
        num_validation=args.val,
        shape=tuple(args.shape),
        spacing=tuple(args.spacing),
        dicom=args.dicom,
        seed=args.seed,
    )
    print(f"Wrote {args.train + args.val} cases and {path}")


if __name__ == "__main__":
    main()
