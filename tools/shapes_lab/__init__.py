"""The experiments on the bundled shapes: the demo, the label-efficiency study, the GPU check,
the mixed-precision check and the one-off studies (README.md beside this file).

Not installed: the scripts in ``tools/`` import it from there, and importing the library
(``mmconvnextv2``) never pulls it in.
"""
