"""Device profiles: strict, typed, and errors that name the file and the key."""

import pytest

from edge.config import ConfigError, available_profiles, load_profile, load_profile_file


def test_shipped_profiles_load():
    assert {"raspberry-pi-4", "jetson-orin-nano", "kiosk-x86"} <= set(available_profiles())
    for name in available_profiles():
        p = load_profile(name)
        assert p.device.id and p.runtime.threads >= 1
        assert p.routing.category["other"] == ["review"]


def write(tmp_path, text):
    p = tmp_path / "p.toml"
    p.write_text(text)
    return p


def test_unknown_key_names_file_and_key(tmp_path):
    p = write(tmp_path, '[device]\nid = "d1"\n[runtime]\nthreds = 2\n')
    with pytest.raises(ConfigError) as e:
        load_profile_file(p)
    assert str(p) in str(e.value) and "runtime" in str(e.value) and "'threds'" in str(e.value)


def test_wrong_type_names_the_key(tmp_path):
    p = write(tmp_path, '[device]\nid = "d1"\n[runtime]\nthreads = "two"\n')
    with pytest.raises(ConfigError, match=r"runtime\.threads: expected int, got str"):
        load_profile_file(p)


def test_missing_required_key_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="missing required key 'device'"):
        load_profile_file(write(tmp_path, "[runtime]\nthreads = 2\n"))
    with pytest.raises(ConfigError, match="profile file not found"):
        load_profile_file(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="known profiles"):
        load_profile("no-such-device")


def test_vocabulary_is_checked(tmp_path):
    p = write(tmp_path, '[device]\nid = "d1"\n[routing.category]\nvehicle = ["body_shop"]\n')
    with pytest.raises(ConfigError, match="'body_shop' is not one of"):
        load_profile_file(p)


def test_secrets_never_in_the_profile(tmp_path, monkeypatch):
    p = write(tmp_path, '[device]\nid = "d1"\n[broker]\npassword = "hunter2"\n')
    with pytest.raises(ConfigError, match="password_env or password_file"):
        load_profile_file(p)
    pw = tmp_path / "secret"
    pw.write_text("s3cret\n")
    p = write(tmp_path, f'[device]\nid = "d1"\n[broker]\npassword_env = "CE_PW"\n'
                        f'password_file = "{pw}"\n')
    prof = load_profile_file(p)
    monkeypatch.delenv("CE_PW", raising=False)
    assert prof.broker.password() == "s3cret"
    monkeypatch.setenv("CE_PW", "from-env")
    assert prof.broker.password() == "from-env"


def test_bad_toml_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_profile_file(write(tmp_path, "[device\nid=1"))


def test_ocr_recogniser_must_be_known_or_an_onnx_file(tmp_path):
    p = write(tmp_path, '[device]\nid = "d1"\n[ocr]\nrec_model = "tesseract"\n')
    with pytest.raises(ConfigError, match=r"ocr\.rec_model': 'tesseract' is not a "
                                          r"recogniser bundle"):
        load_profile_file(p)
    p = write(tmp_path, '[device]\nid = "d1"\n[ocr]\nrec_model = "/opt/ocr/rec.onnx"\n')
    assert load_profile_file(p).ocr.rec_model == "/opt/ocr/rec.onnx"


def test_refine_labels_and_scores_are_checked(tmp_path):
    p = write(tmp_path, '[device]\nid = "d1"\n[detect]\nrefine_labels = ["vin", "licence"]\n')
    with pytest.raises(ConfigError, match="detect.refine_labels.*'licence' is not one of"):
        load_profile_file(p)
    p = write(tmp_path, '[device]\nid = "d1"\n[detect]\nrefine_min_score = 1.5\n')
    with pytest.raises(ConfigError, match=r"detect.refine_min_score.*not in \(0, 1\]"):
        load_profile_file(p)


def test_interpreter_choice_is_checked_and_used(tmp_path):
    p = write(tmp_path, '[device]\nid = "d1"\n[runtime]\ninterpreter = "tensorflow"\n')
    with pytest.raises(ConfigError, match=r"runtime\.interpreter': 'tensorflow' is not one of "
                                          "auto, ai-edge-litert, tflite-runtime"):
        load_profile_file(p)
    from edge.inference import available_runtime, use_runtime
    try:
        name, _ = available_runtime()            # auto: the first installed package
        use_runtime(name)                        # naming it explicitly gives the same one
        assert available_runtime()[0] == name
    finally:
        use_runtime("auto")


def test_a_plate_settled_score_outside_0_1_names_the_key(tmp_path):
    p = write(tmp_path, '[device]\nid = "d1"\n[detect]\nplate_settled = 1.5\n')
    with pytest.raises(ConfigError, match=r"detect\.plate_settled': 1\.5 is not in \[0, 1\]"):
        load_profile_file(p)


def test_wide_tiles_are_checked(tmp_path):
    p = write(tmp_path, '[device]\nid = "d1"\n[detect]\nwide_tile_categories = ["car"]\n')
    with pytest.raises(ConfigError, match=r"detect\.wide_tile_categories': 'car' is not one of"):
        load_profile_file(p)
    p = write(tmp_path, '[device]\nid = "d1"\n[detect]\nwide_tile_grid = 4\n')
    with pytest.raises(ConfigError, match=r"detect\.wide_tile_grid': 4 is not one of 2, 3"):
        load_profile_file(p)
