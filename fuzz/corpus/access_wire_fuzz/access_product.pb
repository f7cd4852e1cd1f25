

svc-etletlwrite!
customercustomer-360*product