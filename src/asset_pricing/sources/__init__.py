"""Where the raw data come from: one module per source, each returning tidy frames for the pull stage.

``embedded`` (default, offline: skfolio's daily adjusted closes and arch's Fama–French ``RF``),
``yahoo`` (yfinance adjusted closes), ``fred`` (TB3MS → ``rf_month = TB3MS/100/12``) and ``files``
(the user's ``data/manual/prices.*`` and ``rf.*``). Prices come back wide — a tz-naive DatetimeIndex
``date`` and one float column per ticker — and the risk-free rate as column ``rf_month`` (monthly
simple fraction) at calendar month-ends. The settings ``EQUITY_SOURCE`` and ``RF_SOURCE`` choose
the source; network sources fail with one line naming the setting that switches to an offline one.
"""
