"""huiqi (惠企): innovation-incentive programmes as cited, dated, testable rules."""

__version__ = "0.1.0"
