Þ
ÛØ
D
metadata8*6

version0.1

nameX

domain	marketing

kindDataProduct


apiVersiondatamesh/v1
\
specT*R
P
slosH*F
#
availability*

target95%

	freshness*

target2d