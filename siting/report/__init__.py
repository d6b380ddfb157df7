"""The report wing: what a run says to the office, in tables, a workbook, report files and charts.

- :mod:`~siting.report.tables`: coverage tables per level and the whole area;
- :mod:`~siting.report.targets`: coverage targets read and checked;
- :mod:`~siting.report.equity`: who is left out (access bands, Gini, priority groups);
- :mod:`~siting.report.summary`: a run's :class:`~siting.report.summary.Report`, its title and first lines;
- :mod:`~siting.report.sharing`: what may be shared (small counts hidden) and the CSV writer;
- :mod:`~siting.report.headers`: bilingual, unit-aware column headers;
- :mod:`~siting.report.workbook`, :mod:`~siting.report.files`: the office's sheets and the report files;
- :mod:`~siting.report.charts`: charts, drawn on their own figures (they show inline in notebooks);
- :mod:`~siting.report.run_files`: a run's shared files, one of the writers :func:`siting.rundir.write_run` is handed.
"""
