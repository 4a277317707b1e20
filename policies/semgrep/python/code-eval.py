import ast


def calc(expr, code):
    # ruleid: python-eval-exec
    value = eval(expr)
    # ruleid: python-eval-exec
    exec(code, {})
    # ok: python-eval-exec
    safe = ast.literal_eval(expr)
    # ok: python-eval-exec
    const = eval("1 + 2")
    return value, safe, const
