"""The paper's published figures (Shao et al. 2018, Section IV), in percent, for side-by-side tables.

Keys follow this repository's dataset names: 'aflw' (5 points), 'cofw' (29 points) and '300w' (68 points,
whose paper figures are on the IBUG test set).
"""

#: Table VI (and, for BM, Table III): mean error (%) and failure rate (%) of BM, WM and AM
TABLE_VI = {
    "aflw": {"BM": (5.67, 4.43), "WM": (5.50, 3.84), "AM": (5.38, 3.47)},
    "cofw": {"BM": (6.25, 5.13), "WM": (6.11, 4.54), "AM": (6.00, 3.94)},
    "300w": {"BM": (8.89, 27.43), "WM": (8.72, 26.80), "AM": (8.51, 25.93)},
}
#: Table III: mean error of the previous version's basic model (pre-BM, fully connected instead of GAP)
TABLE_III_PRE_BM = {"aflw": 5.61, "cofw": 6.40, "300w": 9.23}
#: the name of the test set each dataset's paper figures are measured on
PAPER_TEST_SET = {"aflw": "AFLW (2,995 faces)", "cofw": "COFW (507 faces)", "300w": "IBUG (135 faces)"}

#: Table IV (IBUG, 68 points): mean error (%) of each cluster's landmarks for WM and two cluster models.
#: The paper's cluster names map onto the 300w68 scheme's cluster names.
TABLE_IV_MODELS = ("WM", "left_eye", "right_eye")  # columns: WM, Left Eye Model, Right Eye Model
TABLE_IV = {
    "left_eye": (8.09, 7.92, 8.10),
    "right_eye": (7.73, 7.55, 7.30),
    "nose": (6.19, 6.42, 6.59),
    "mouth": (6.92, 6.80, 7.08),
    "left_contour": (12.66, 12.83, 12.74),
    "chin": (13.55, 13.50, 13.45),
    "right_contour": (13.38, 13.47, 13.45),
}
TABLE_IV_DATASET = "300w"

#: Table VII (COFW, 29 points): mean error (%) of the left-eye cluster and of the other landmarks,
#: without and with the handcrafted left-eye occlusion of 30 % of the test faces
TABLE_VII = {
    "WM": {"left_eye": (5.98, 6.60), "others": (6.17, 6.30)},
    "AM": {"left_eye": (5.88, 6.50), "others": (6.06, 6.18)},
}
TABLE_VII_DATASET = "cofw"


def table_iv(cluster: str, model: str):
    """Paper value of Table IV for a cluster row and a model column ('WM' or a cluster name), or None."""
    row = TABLE_IV.get(cluster)
    if row is None or model not in TABLE_IV_MODELS:
        return None
    return row[TABLE_IV_MODELS.index(model)]
