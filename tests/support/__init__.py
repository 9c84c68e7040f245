"""What the tests share and do not test: fakes and models of AWS (SQS, Lambda, the attempts table), the fake
account's settings and Hypothesis's profiles. Only tests import it; nothing here is collected as a test."""
