"""What a person takes away from a run: the HTML report (`write_report`), posterior summaries
labelled with the level names of the data (`a_Batch[3]  (Batch = C)`), and programs whose data
declarations carry their levels."""

from boxloop.report.labels import annotate_program, level_labels
from boxloop.report.page import REPORT_NAME, ReportSummary, report_after_run, write_report
from boxloop.report.run import ReportError, load_run

__all__ = ["level_labels", "annotate_program", "write_report", "ReportSummary", "ReportError", "load_run",
           "REPORT_NAME", "report_after_run"]
