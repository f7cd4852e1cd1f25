¨
è
åapiVersion: datamesh/v1
kind: DataProduct
metadata: {name: orders, domain: sales, owner: sales-data-team, version: 1.3.0}
spec:
  description: Orders.
  classification: {type: source-aligned, tier: silver, pii: true}
  contracts: [orders-contract]
  outputPorts:
    - name: sql-access
      type: sql
      catalog: sales_analytics
      schema: orders_v2
      tables:
        - name: orders
          columns:
            - {name: order_id, type: varchar}
            - {name: customer_id, type: varchar, pii: true}
            - {name: email, type: "varchar(255)", pii: true}
            - {name: amount, type: "decimal(10,2)"}
  slos:
    freshness: {target: 15m}
    availability: {target: 99.9%}
  governance:
    accessControl:
      - {role: sales-analysts, permissions: [read]}
      - {role: sales-data-team, permissions: [read, write, admin]}
      - {role: data-scientists, permissions: [read]}
ƒ
¡apiVersion: datamesh/v1
kind: DataProduct
metadata: {name: orders, domain: sales, owner: sales-data-team, version: 1.2.0}
spec:
  description: Orders.
  classification: {type: source-aligned, tier: silver, pii: true}
  contracts: [orders-contract]
  outputPorts:
    - name: sql-access
      type: sql
      catalog: sales_analytics
      schema: orders
      tables:
        - name: orders
          columns:
            - {name: order_id, type: varchar}
            - {name: customer_id, type: varchar, pii: true}
            - {name: email, type: "varchar(255)", pii: true}
            - {name: amount, type: "decimal(10,2)"}
            - {name: birth_date, type: date, pii: true}
  slos:
    freshness: {target: 15m}
    availability: {target: 99.9%}
  governance:
    accessControl:
      - {role: sales-analysts, permissions: [read]}
      - {role: sales-data-team, permissions: [read, write, admin]}
      - {role: data-scientists, permissions: [read]}
–
ÕapiVersion: datacontract/v1
kind: DataContract
metadata: {name: orders-contract, version: 1.1.0, owner: sales-data-team}
producer: {domain: sales, dataProduct: orders}
models:
  orders:
    description: One row per order
    fields:
      order_id: {type: string, required: true, unique: true, primaryKey: true}
      customer_id: {type: string, required: true, pii: true}
      amount: {type: double, required: true}
      note: {type: string, required: true}
"¶
£apiVersion: datacontract/v1
kind: DataContract
metadata: {name: orders-contract, version: 1.0.0, owner: sales-data-team}
producer: {domain: sales, dataProduct: orders}
models:
  orders:
    description: One row per order
    fields:
      order_id: {type: string, required: true, unique: true, primaryKey: true}
      customer_id: {type: string, required: true, pii: true}
      amount: {type: decimal, required: true}
*
production2
actorci2
commitabc123:*
samsales-analysts"sales*
regioneu