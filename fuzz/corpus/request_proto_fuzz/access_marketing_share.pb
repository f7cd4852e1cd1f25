
N
%
miaaudit"	marketing*
regioneureadsales_analytics.orders.orders