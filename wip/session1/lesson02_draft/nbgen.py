"""Build a notebook from a python file with '# %% [markdown]' / '# %%' cell markers."""
import sys, nbformat
src = open(sys.argv[1]).read()
out = sys.argv[2]
cells = []
for chunk in src.split("\n# %%")[1:]:
    header, _, body = chunk.partition("\n")
    body = body.strip("\n")
    if header.strip().startswith("[markdown]"):
        lines = [l[2:] if l.startswith("# ") else l.lstrip("#") for l in body.split("\n")]
        cells.append(nbformat.v4.new_markdown_cell("\n".join(lines)))
    else:
        cells.append(nbformat.v4.new_code_cell(body))
nb = nbformat.v4.new_notebook(cells=cells)
nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
nb.metadata["language_info"] = {"name": "python"}
nbformat.write(nb, out)
