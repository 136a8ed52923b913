"""What the lab's tests share: the token and a tiny study (two values of one program, so
one cohort; two seeds; three epochs of 5 updates)."""

TOKEN = "test-token"
STUDY = """
name = "lab-tiny"
description = "Momentum 0 or 0.9, a tiny network, three epochs"
question = "Does momentum help a tiny network?"
axis = "Momentum"
repeats = 2
[model]
hidden = [8]
[compile]
optimizer = { name = "SGD", learning_rate = 0.05 }
[fit]
epochs = 3
batch_size = 100
[[sweep]]
field = "compile.optimizer.momentum"
values = [0.0, 0.9]
"""
