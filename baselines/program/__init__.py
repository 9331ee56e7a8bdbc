"""The program that runs a trained baseline in a code phase (`main.py`, packaged by `baselines.code_program`)."""
