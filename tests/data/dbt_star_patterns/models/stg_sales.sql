select * from {{ ref('sales') }}
