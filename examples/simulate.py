#!/usr/bin/env python3
"""A toy simulator for the example batch: a random walk of N robots for T steps.
Writes the final positions to output/positions.csv in the run's output directory."""
import argparse
import os
import random
import time

parser = argparse.ArgumentParser()
parser.add_argument("--robots", type=int, required=True)
parser.add_argument("--steps", type=int, default=200)
parser.add_argument("--seed", type=int, required=True)
args = parser.parse_args()

random.seed(args.seed)
positions = [[0.0, 0.0] for _ in range(args.robots)]
for _ in range(args.steps):
    for p in positions:
        p[0] += random.uniform(-1, 1)
        p[1] += random.uniform(-1, 1)
time.sleep(0.2)  # stands in for real simulation time

out_dir = os.path.join(os.environ["SIERRA_BATCH_ROOT"], "scratch", os.environ["SIERRA_EXP"], f"run{os.environ['SIERRA_RUN']}", "output")
os.makedirs(out_dir, exist_ok=True)
with open(os.path.join(out_dir, "positions.csv"), "w") as f:
    f.write("robot,x,y\n")
    f.writelines(f"{i},{x:.3f},{y:.3f}\n" for i, (x, y) in enumerate(positions))
print(f"simulated {args.robots} robots for {args.steps} steps (seed {args.seed})")
