"""The factory: a config's component specs (`name`|`path` + `args`) → objects, for every kind.

`registry` (register, resolve, build), `arguments` (argument names and types checked against the factory),
`errors` (a user's mistake vs our bug vs a missing package), `origin` (a model file's specs are data: what they
may name). Layer: above errors/atomic, io and config; below the catalogue (transforms, networks, …) that
registers into it.
"""
