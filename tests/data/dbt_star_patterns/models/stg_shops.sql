select * from {{ ref('shops') }}
